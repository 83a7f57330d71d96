// A labelled form field: the label, the control (given an id), a hint on what it costs, and the
// server's error for this field right beside it.
import { useId, type ReactElement, cloneElement } from 'react';

interface Props {
  label: string;
  hint?: string;
  error?: string | null;
  children: ReactElement<Record<string, unknown>>;
  /** Checkboxes put the label after the box. */
  inline?: boolean;
}

export function Field({ label, hint, error, children, inline }: Props) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const control = cloneElement(children, {
    id,
    'aria-describedby': [hintId, errorId].filter(Boolean).join(' ') || undefined,
    'aria-invalid': error ? true : undefined,
  });
  return (
    <div className={`field${inline ? ' field-inline' : ''}${error ? ' field-has-error' : ''}`}>
      {inline ? (
        <div className="field-check">
          {control}
          <label htmlFor={id}>{label}</label>
        </div>
      ) : (
        <>
          <label htmlFor={id}>{label}</label>
          {control}
        </>
      )}
      {error && (
        <p className="field-error" id={errorId} role="alert">
          {error}
        </p>
      )}
      {hint && (
        <p className="field-hint" id={hintId}>
          {hint}
        </p>
      )}
    </div>
  );
}
