// Entry of the web app: `#/dashboard` is the researcher dashboard (loaded on demand), anything else
// the volunteer page. On the volunteer page `window.prufedTrainer` is the trainer worker handle, for
// the browser tests and for poking at the worker from the devtools console.
import { lazy, StrictMode, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import './styles.css';
import { getTrainer, type Trainer } from './trainer-client';

declare global {
  interface Window {
    prufedTrainer: Trainer;
  }
}

const Dashboard = lazy(() =>
  import('./dashboard/Dashboard').then((module) => ({ default: module.Dashboard })),
);
const isDashboard = window.location.hash.startsWith('#/dashboard');
if (!isDashboard) window.prufedTrainer = getTrainer();

const root = document.getElementById('root');
if (!root) throw new Error('index.html must contain <div id="root">');
createRoot(root).render(
  <StrictMode>
    {isDashboard ? (
      <Suspense fallback={<p>Loading the dashboard…</p>}>
        <Dashboard />
      </Suspense>
    ) : (
      <App />
    )}
  </StrictMode>,
);
