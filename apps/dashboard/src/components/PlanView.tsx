// The memory plan of the launch being edited: a bar per GPU of each replica, or, when it will not
// fit, what is wrong and the settings that would fit (each one a button that applies it); for a small
// model, why the KV cache takes most of the budget and how to claim less.
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
  const { t, num, bytes } = i18n;
  // A small model at the default utilization: the engine gives the KV cache everything the weights
  // leave of the budget. That is by design (more sequences at once), but it reads as waste unless said.
  const first = plan?.fits ? plan.plan?.replicas[0]?.gpus[0] : undefined;
  const kvTakesRest =
    first !== undefined && first.kv_cache > 0.5 * first.claim && first.weights < 0.1 * first.claim;
  // The utilization whose KV cache holds max_num_seqs sequences of max_model_len at once (a hundredth
  // of headroom for block rounding): offered when it is well below the one set.
  const rightSize = (() => {
    const settings = plan?.plan?.settings;
    if (!kvTakesRest || !first || !settings) return null;
    const kvNeeded = first.kv_bytes_per_token * settings.max_model_len * settings.max_num_seqs;
    const rest = first.weights + first.activations + first.cuda_graphs + first.overhead;
    // The claim is the utilization of what CUDA gives the engine (the GPU less the driver's reserve).
    const usable = first.claim / settings.gpu_memory_utilization;
    const util = Math.min(1, Math.max(0.05, Math.ceil(((rest + kvNeeded) / usable) * 100) / 100 + 0.01));
    return util < settings.gpu_memory_utilization - 0.05
      ? { util, claim: util * usable }
      : null;
  })();
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
      {kvTakesRest && first && (
        <div className="note" data-testid="kv-takes-rest">
          <p>
            {t('launch.kvTakesRest', {
              kv: bytes(first.kv_cache),
              weights: bytes(first.weights),
              util: num(plan!.plan!.settings.gpu_memory_utilization, 2),
            })}
          </p>
          {rightSize && (
            <p className="kv-right-size">
              <span>
                {t('launch.kvRightSize', {
                  seqs: num(plan!.plan!.settings.max_num_seqs, 0),
                  len: num(plan!.plan!.settings.max_model_len, 0),
                  util: num(rightSize.util, 2),
                  claim: bytes(rightSize.claim),
                })}
              </span>
              <button
                type="button"
                className="btn btn-small"
                onClick={() => onApply('gpu_memory_utilization', rightSize.util)}
              >
                {t('common.apply')}
              </button>
            </p>
          )}
        </div>
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
