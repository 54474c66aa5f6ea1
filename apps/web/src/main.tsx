// Entry of the volunteer page. The dashboard is its own page (/dashboard, dashboard-main.tsx); an
// old `/#/dashboard?token=…` address is sent there. `window.prufedTrainer` is the trainer worker
// handle, for the browser tests and for poking at the worker from the devtools console.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { dashboardRedirect } from './dashboard/dashboard-data';
import './styles.css';
import { getTrainer, type Trainer } from './trainer-client';

declare global {
  interface Window {
    prufedTrainer: Trainer;
  }
}

const dashboard = dashboardRedirect(window.location.hash);
if (dashboard !== null) {
  window.location.replace(dashboard);
} else {
  window.prufedTrainer = getTrainer();
  const root = document.getElementById('root');
  if (!root) throw new Error('index.html must contain <div id="root">');
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
