// Entry of the researcher dashboard page (dashboard.html, served at /dashboard): its own bundle, so
// the volunteer page's trainer worker and the dashboard's charts never load together.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Dashboard } from './dashboard/Dashboard';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('dashboard.html must contain <div id="root">');
createRoot(root).render(
  <StrictMode>
    <Dashboard />
  </StrictMode>,
);
