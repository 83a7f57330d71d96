// Entry point: providers (locale, events socket) around the app shell.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { EventsProvider } from './api/events.tsx';
import { App } from './App.tsx';
import { I18nProvider } from './i18n/index.tsx';
import './styles.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <I18nProvider>
      <EventsProvider>
        <App />
      </EventsProvider>
    </I18nProvider>
  </StrictMode>,
);
