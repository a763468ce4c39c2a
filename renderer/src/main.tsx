/** Entry: pick the transport, make the store, draw the app. */
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { StoreContext } from './state/context';
import { Store } from './state/store';
import { openTransport } from './transport';

const store = new Store(openTransport());
createRoot(document.getElementById('root')!).render(
  <StoreContext.Provider value={store}>
    <App />
  </StoreContext.Provider>,
);
