// Entry of the volunteer page. `window.prufedTrainer` is the page's trainer worker handle, for the
// browser tests and for poking at the worker from the devtools console.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { getTrainer, type Trainer } from './trainer-client';

declare global {
  interface Window {
    prufedTrainer: Trainer;
  }
}

window.prufedTrainer = getTrainer();

const root = document.getElementById('root');
if (!root) throw new Error('index.html must contain <div id="root">');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
