// Cluster: the server's state, workers and their devices, and charts of GPU memory, host memory (CPU
// RAM, on its own axis) and utilization over the last ten minutes (sampled every 2 s and kept in this
// browser's storage, so the charts continue across visits).
import { useRef, useState } from 'react';
import { api } from '../api/client.ts';
import type { ClusterInfo, ClusterDevice as Device, WorkerView } from '@pagoda/protocol';
import { usePoll } from '../api/use-poll.ts';
import { addSample, loadHistory, sampleOf, type DeviceSample, type Sample } from '../cluster-history.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { LineChart, type Series } from '../components/LineChart.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { StackTable } from '../components/StackTable.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { useI18n } from '../i18n/index.tsx';

export function ClusterPage() {
  const { t, bytes, num, date, pct } = useI18n();
  const info = usePoll<ClusterInfo>(() => api.clusterInfo(), 5000);
  const workers = usePoll<WorkerView[]>(() => api.workers(), 5000);
  const history = useRef<Sample[] | null>(null);
  history.current ??= loadHistory(Date.now());
  const [, redraw] = useState(0);
  const devices = usePoll<Device[]>(async () => {
    const d = await api.devices();
    history.current = addSample(history.current ?? [], sampleOf(Date.now(), d));
    redraw((n) => n + 1);
    return d;
  }, 2000);

  const name = (d: { worker: string; kind: string; index: number }) =>
    `${d.worker} · ${d.kind === 'cpu' ? t('common.cpu') : t('common.gpu', { index: d.index })}`;
  const samples = history.current;
  const series = (
    keep: (d: DeviceSample) => boolean,
    pick: (d: DeviceSample) => number,
  ): Series[] => {
    const keys = [...new Set(samples.flatMap((s) => s.devices.filter(keep).map((d) => d.key)))];
    return keys.map((k) => {
      const points = samples.flatMap((s) =>
        s.devices.filter((d) => d.key === k).map((d) => ({ t: s.t, v: pick(d) })),
      );
      const d = samples.flatMap((s) => s.devices).findLast((x) => x.key === k)!;
      return { name: name(d), points };
    });
  };
  const latest = samples.at(-1)?.devices ?? [];
  const isGpu = (d: DeviceSample) => d.kind === 'gpu';
  const isCpu = (d: DeviceSample) => d.kind === 'cpu' && d.total > 0;
  const gpuMax = Math.max(1, ...latest.filter(isGpu).map((d) => d.total));
  const cpuMax = Math.max(1, ...latest.filter(isCpu).map((d) => d.total));
  const hasGpu = latest.some(isGpu);
  const hasCpu = latest.some(isCpu);

  return (
    <>
      <PageHeader title={t('cluster.title')} subtitle={t('cluster.subtitle')} />
      <ErrorNote error={info.error ?? devices.error ?? workers.error} />
      {info.data && (
        <dl className="stats stats-wide">
          <div>
            <dt>{t('cluster.version')}</dt>
            <dd>{String(info.data.server.version ?? '–')}</dd>
          </div>
          <div>
            <dt>{t('cluster.database')}</dt>
            <dd>{info.data.server.database}</dd>
          </div>
          <div>
            <dt>{t('cluster.redis')}</dt>
            <dd>{info.data.server.redis}</dd>
          </div>
          <div>
            <dt>{t('cluster.workers')}</dt>
            <dd>{num(info.data.workers.length, 0)}</dd>
          </div>
          <div>
            <dt>{t('cluster.models')}</dt>
            <dd>{num(info.data.models, 0)}</dd>
          </div>
          <div>
            <dt>{t('cluster.replicas')}</dt>
            <dd>
              {num(
                Object.values(info.data.replicas).reduce((a, b) => a + b, 0),
                0,
              )}
            </dd>
          </div>
        </dl>
      )}

      <section className="card" aria-labelledby="workers-title">
        <h2 id="workers-title">{t('cluster.workers')}</h2>
        <StackTable
          columns={[
            t('models.worker'),
            t('cluster.address'),
            t('models.status'),
            t('cluster.gpuCount'),
            t('cluster.replicas'),
            t('cluster.heartbeat'),
          ]}
          rows={workers.data}
          empty={t('cluster.noWorkers')}
          row={(w) => (
            <tr key={w.worker}>
              <td data-label={t('models.worker')}>{w.worker}</td>
              <td data-label={t('cluster.address')}>{w.address}</td>
              <td data-label={t('models.status')}>
                <StatusBadge status={w.status} />
              </td>
              <td data-label={t('cluster.gpuCount')}>{num(w.gpus, 0)}</td>
              <td data-label={t('cluster.replicas')}>{num(w.replicas, 0)}</td>
              <td data-label={t('cluster.heartbeat')}>{date(w.last_heartbeat)}</td>
            </tr>
          )}
        />
      </section>

      <section className="card" aria-labelledby="devices-title">
        <h2 id="devices-title">{t('cluster.devices')}</h2>
        <StackTable
          columns={[
            t('cluster.device'),
            t('cluster.memory'),
            t('cluster.claimed'),
            t('cluster.utilization'),
            t('cluster.placed'),
          ]}
          rows={devices.data ?? []}
          row={(d) => (
            <tr key={`${d.worker}/${d.index}`}>
              <td data-label={t('cluster.device')}>
                <span>
                  {name(d)} <span className="muted">{d.name}</span>
                </span>
              </td>
              <td data-label={t('cluster.memory')}>
                {t('mem.ofTotal', { used: bytes(d.memory_used), total: bytes(d.memory_total) })}
              </td>
              <td data-label={t('cluster.claimed')}>{bytes(d.memory_claimed)}</td>
              <td data-label={t('cluster.utilization')}>{pct(d.utilization / 100)}</td>
              <td data-label={t('cluster.placed')}>{d.models.join(', ') || '–'}</td>
            </tr>
          )}
        />
      </section>

      <div className="two-col">
        {samples.length < 2 ? (
          <p className="muted">{t('cluster.chartWaiting')}</p>
        ) : (
          <>
            {hasGpu && (
              <div className="card">
                <LineChart
                  title={t('cluster.memoryChart')}
                  series={series(isGpu, (d) => Math.max(d.used, d.claimed))}
                  format={bytes}
                  max={gpuMax}
                />
              </div>
            )}
            {hasCpu && (
              <div className="card">
                <LineChart
                  title={t('cluster.hostMemoryChart')}
                  series={series(isCpu, (d) => Math.max(d.used, d.claimed))}
                  format={bytes}
                  max={cpuMax}
                />
              </div>
            )}
            <div className="card">
              <LineChart
                title={t('cluster.utilChart')}
                series={series((d) => isGpu(d) || isCpu(d), (d) => d.util / 100)}
                format={pct}
                max={1}
              />
            </div>
          </>
        )}
      </div>
    </>
  );
}
