// The memory plan of the launch being edited: a bar per GPU of each replica, or, when it will not
// fit, what is wrong and the settings that would fit (each one a button that applies it).
import type { ApiError } from '../api/client.ts';
import type { PlanResponse } from '@pagoda/protocol';
import { useI18n } from '../i18n/index.tsx';
import { planProblemsText, translateError } from '../i18n/server-error.ts';
import type { MessageKey } from '../i18n/en.ts';
import { MemoryBar } from './MemoryBar.tsx';

export function PlanView({
  plan,
  error,
  onApply,
}: {
  plan: PlanResponse | null;
  error: ApiError | null;
  onApply(setting: string, value: number): void;
}) {
  const i18n = useI18n();
  const { t, num } = i18n;
  // Known settings read in the page's language; anything newer falls back to the server's sentence.
  const suggestion = (s: { setting: string; value: number; message: string }) => {
    const key = `launch.suggest.${s.setting}` as MessageKey;
    return t(key) === key ? s.message : t(key, { value: num(s.value, 2) });
  };
  return (
    <section className="plan" aria-labelledby="plan-title" aria-live="polite">
      <h3 id="plan-title">{t('launch.planTitle')}</h3>
      {!plan && !error && <p className="muted">{t('launch.planPending')}</p>}
      {error && (
        <p className="note note-error" role="alert">
          {translateError(i18n, error)}
        </p>
      )}
      {plan?.fits && plan.device === 'cpu' && (
        <p className="note note-ok">{t('launch.planFitsCpu')}</p>
      )}
      {plan?.fits && plan.device === 'gpu' && (
        <p className="note note-ok">{t('launch.planFits')}</p>
      )}
      {plan?.fits &&
        plan.plan?.replicas.map((r) => (
          <div key={r.replica} className="plan-replica">
            <h4>
              {t('launch.planReplica', { n: r.replica + 1, worker: r.worker })}
              <span className="muted">
                {' '}
                · {t('launch.planConcurrency', { n: num(r.max_concurrency, 0) })}
              </span>
            </h4>
            {r.gpus.map((g) => (
              <MemoryBar
                key={`${g.worker}-${g.index}`}
                gpu={g}
                title={t('common.gpu', { index: g.index })}
              />
            ))}
          </div>
        ))}
      {plan && !plan.fits && (
        <div className="plan-refused">
          <p className="note note-error" role="alert">
            {/* Said once, in the page's language: the problems (GPUs with the same numbers merged), not the server's sentence. */}
            <strong>{t('launch.planNoFit')}</strong>{' '}
            {plan.problem_details?.length
              ? planProblemsText(i18n, plan.problem_details)
              : plan.plan?.problem_details?.length
                ? planProblemsText(i18n, plan.plan.problem_details)
                : plan.message}
          </p>
          {plan.plan?.breakdown && (
            <MemoryBar
              gpu={plan.plan.breakdown}
              title={t('common.gpu', { index: plan.plan.breakdown.index })}
              bad
            />
          )}
          {plan.plan && plan.plan.suggestions.length > 0 && (
            <>
              <p>{t('launch.planWouldFit')}</p>
              <ul className="suggestions">
                {plan.plan.suggestions.map((s) => (
                  <li key={s.setting}>
                    <span title={s.message}>{suggestion(s)}</span>
                    <button
                      type="button"
                      className="btn btn-small"
                      onClick={() => onApply(s.setting, s.value)}
                    >
                      {t('common.apply')}
                    </button>
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
    </section>
  );
}
