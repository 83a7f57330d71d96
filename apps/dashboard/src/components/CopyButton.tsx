// A button that copies a text (a new API key, a code block, an answer) and says so for a moment.
import { useEffect, useState } from 'react';
import { useI18n } from '../i18n/index.tsx';

/** Copies through the Clipboard API, or a selected textarea where the page is not allowed to use it. */
export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // not a secure context or no permission: fall back below
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.append(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

export function CopyButton({
  text,
  label,
  className = 'btn btn-small',
}: {
  text: string;
  label: string;
  className?: string;
}) {
  const { t } = useI18n();
  const [done, setDone] = useState(false);
  useEffect(() => {
    if (!done) return;
    const timer = setTimeout(() => setDone(false), 1500);
    return () => clearTimeout(timer);
  }, [done]);
  return (
    <button
      type="button"
      className={className}
      aria-label={done ? t('chat.copied') : label}
      onClick={() => void copyText(text).then(() => setDone(true))}
    >
      {done ? t('chat.copied') : label}
    </button>
  );
}
