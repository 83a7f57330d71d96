// The shell: navigation, language switch, socket state, and the page the path names.
import { useEffect, useRef } from 'react';
import { useAuthNeed } from './api/auth-state.ts';
import { useEvents } from './api/events.tsx';
import { SignIn } from './components/SignIn.tsx';
import { useI18n, LOCALES, type Locale } from './i18n/index.tsx';
import type { MessageKey } from './i18n/en.ts';
import { BenchPage } from './pages/BenchPage.tsx';
import { ChatPage } from './pages/ChatPage.tsx';
import { ClusterPage } from './pages/ClusterPage.tsx';
import { CustomPage } from './pages/CustomPage.tsx';
import { KeysPage } from './pages/KeysPage.tsx';
import { LaunchPage } from './pages/LaunchPage.tsx';
import { ModelsPage } from './pages/ModelsPage.tsx';
import { RetrievalPage } from './pages/RetrievalPage.tsx';
import { Link, usePath } from './router.tsx';

const PAGES: Array<{
  path: string;
  label: MessageKey;
  icon: string;
  Page: () => React.JSX.Element;
}> = [
  { path: '/launch', label: 'nav.launch', icon: 'M12 3l7 7h-4v8H9v-8H5z', Page: LaunchPage },
  {
    path: '/models',
    label: 'nav.models',
    icon: 'M4 5h16v4H4zm0 6h16v4H4zm0 6h10v3H4z',
    Page: ModelsPage,
  },
  { path: '/chat', label: 'nav.chat', icon: 'M4 4h16v11H8l-4 4z', Page: ChatPage },
  {
    path: '/retrieval',
    label: 'nav.retrieval',
    icon: 'M10 4a6 6 0 1 1 0 12 6 6 0 0 1 0-12zm5 11l5 5',
    Page: RetrievalPage,
  },
  {
    path: '/custom',
    label: 'nav.custom',
    icon: 'M11 4h2v7h7v2h-7v7h-2v-7H4v-2h7z',
    Page: CustomPage,
  },
  {
    path: '/cluster',
    label: 'nav.cluster',
    icon: 'M3 4h8v7H3zm10 0h8v7h-8zM3 13h8v7H3zm10 0h8v7h-8z',
    Page: ClusterPage,
  },
  {
    path: '/bench',
    label: 'nav.bench',
    icon: 'M4 20V10h3v10zm6 0V4h3v16zm6 0v-7h3v7z',
    Page: BenchPage,
  },
  {
    path: '/keys',
    label: 'nav.keys',
    icon: 'M8 10a4 4 0 1 1 3.5 4H11v2H9v2H6v-3.5l2.3-2.3A4 4 0 0 1 8 10z',
    Page: KeysPage,
  },
];

export function App() {
  const path = usePath();
  const { t, locale, setLocale } = useI18n();
  const { connected, paused } = useEvents();
  // dash-chat: once the server answers 401 the sign-in prompt replaces the page (nothing polls).
  const signedOut = useAuthNeed() !== null;
  const main = useRef<HTMLElement>(null);
  const current = PAGES.find((p) => path === p.path || path.startsWith(`${p.path}/`)) ?? PAGES[0]!;

  useEffect(() => {
    document.title = `${t(current.label)} · ${t('app.title')}`;
  }, [current, t]);
  // After navigating, focus moves to the page so keyboard and screen-reader users land on it.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [path]);

  return (
    <div className="shell">
      <a className="skip" href="#main">
        {t('app.skip')}
      </a>
      <aside className="sidebar">
        <div className="brand">
          <svg viewBox="0 0 16 16" width="26" height="26" aria-hidden="true">
            <path d="M8 1 1 5h14zM3 6h10v2H3zm-1 3h12l1 3H1zm2 4h8v2H4z" fill="currentColor" />
          </svg>
          <div>
            <strong>{t('app.title')}</strong>
            <span>{t('app.tagline')}</span>
          </div>
        </div>
        <nav aria-label={t('app.title')}>
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <Link href={p.path} aria-current={p === current ? 'page' : undefined}>
                  <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
                    <path d={p.icon} fill="currentColor" />
                  </svg>
                  {t(p.label)}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="sidebar-foot">
          <label className="lang">
            <span>{t('app.language')}</span>
            <select value={locale} onChange={(e) => setLocale(e.target.value as Locale)}>
              {Object.entries(LOCALES).map(([k, name]) => (
                <option key={k} value={k}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          <span className={`live ${connected ? 'live-on' : 'live-off'}`} role="status">
            {connected
              ? t('app.live')
              : paused
                ? t(signedOut ? 'signin.paused' : 'signin.noLive')
                : t('app.offline')}
          </span>
        </div>
      </aside>
      <main id="main" ref={main} tabIndex={-1}>
        {signedOut ? <SignIn /> : <current.Page key={current.path} />}
      </main>
    </div>
  );
}
