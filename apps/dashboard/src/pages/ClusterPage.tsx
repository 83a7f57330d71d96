// Cluster: the server's state, workers and their devices, and memory / utilization of every device
// over the time this page has been open (sampled every 2 s, drawn as SVG line charts).
import { useRef, useState } from 'react';
import { api } from '../api/client.ts';
import type { ClusterInfo, ClusterDevice as Device, WorkerView } from '@pagoda/protocol';
import { usePoll } from '../api/use-poll.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { LineChart, type Series } from '../components/LineChart.tsx';
import { PageHeader } from '../components/PageHeader.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { useI18n } from '../i18n/index.tsx';

const WINDOW_MS = 10 * 60_000;

interface Sample {
  t: number;
  devices: Device[];
}

export function ClusterPage() {
  const { t, bytes, num, date, pct } = useI18n();
  const info = usePoll<ClusterInfo>(() => api.clusterInfo(), 5000);
  const workers = usePoll<WorkerView[]>(() => api.workers(), 5000);
  const history = useRef<Sample[]>([]);
  const [, redraw] = useState(0);
  const devices = usePoll<Device[]>(async () => {
    const d = await api.devices();
    const now = Date.now();
    history.current = [
      ...history.current.filter((s) => now - s.t < WINDOW_MS),
      { t: now, devices: d },
    ];
    redraw((n) => n + 1);
    return d;
  }, 2000);

  const name = (d: Device) =>
    `${d.worker} · ${d.kind === 'cpu' ? t('common.cpu') : t('common.gpu', { index: d.index })}`;
  const series = (pick: (d: Device) => number): Series[] => {
    const keys = [
      ...new Set(history.current.flatMap((s) => s.devices.map((d) => `${d.worker}/${d.index}`))),
    ];
    return keys.map((k) => {
      const points = history.current.flatMap((s) =>
        s.devices
          .filter((d) => `${d.worker}/${d.index}` === k)
          .map((d) => ({ t: s.t, v: pick(d) })),
      );
      const d =
        history.current.at(-1)?.devices.find((x) => `${x.worker}/${x.index}` === k) ??
        history.current.flatMap((s) => s.devices).find((x) => `${x.worker}/${x.index}` === k)!;
      return { name: name(d), points };
    });
  };
  const gpus = (devices.data ?? []).filter((d) => d.kind === 'gpu' || d.memory_total > 0);

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
        {workers.data?.length === 0 && <p className="muted">{t('cluster.noWorkers')}</p>}
        {workers.data && workers.data.length > 0 && (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('models.worker')}</th>
                  <th scope="col">{t('cluster.address')}</th>
                  <th scope="col">{t('models.status')}</th>
                  <th scope="col">{t('models.gpus')}</th>
                  <th scope="col">{t('cluster.replicas')}</th>
                  <th scope="col">{t('cluster.heartbeat')}</th>
                </tr>
              </thead>
              <tbody>
                {workers.data.map((w) => (
                  <tr key={w.worker}>
                    <td>{w.worker}</td>
                    <td>{w.address}</td>
                    <td>
                      <StatusBadge status={w.status} />
                    </td>
                    <td>{num(w.gpus, 0)}</td>
                    <td>{num(w.replicas, 0)}</td>
                    <td>{date(w.last_heartbeat)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section className="card" aria-labelledby="devices-title">
        <h2 id="devices-title">{t('cluster.devices')}</h2>
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{t('cluster.device')}</th>
                <th scope="col">{t('cluster.memory')}</th>
                <th scope="col">{t('cluster.claimed')}</th>
                <th scope="col">{t('cluster.utilization')}</th>
                <th scope="col">{t('cluster.placed')}</th>
              </tr>
            </thead>
            <tbody>
              {(devices.data ?? []).map((d) => (
                <tr key={`${d.worker}/${d.index}`}>
                  <td>
                    {name(d)} <span className="muted">{d.name}</span>
                  </td>
                  <td>
                    {t('mem.ofTotal', { used: bytes(d.memory_used), total: bytes(d.memory_total) })}
                  </td>
                  <td>{bytes(d.memory_claimed)}</td>
                  <td>{pct(d.utilization / 100)}</td>
                  <td>{d.models.join(', ') || '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <div className="two-col">
        {history.current.length < 2 ? (
          <p className="muted">{t('cluster.chartWaiting')}</p>
        ) : (
          <>
            <div className="card">
              <LineChart
                title={t('cluster.memoryChart')}
                series={series((d) => Math.max(d.memory_used, d.memory_claimed))}
                format={bytes}
                max={Math.max(1, ...gpus.map((d) => d.memory_total))}
              />
            </div>
            <div className="card">
              <LineChart
                title={t('cluster.utilChart')}
                series={series((d) => d.utilization / 100)}
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
