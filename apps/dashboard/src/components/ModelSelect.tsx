// A <select> of ready models by uid; Field's id and aria attributes pass through to it.
import type { SelectHTMLAttributes } from 'react';
import type { ModelView } from '@pagoda/protocol';

type Props = Omit<SelectHTMLAttributes<HTMLSelectElement>, 'value' | 'onChange'> & {
  models: ModelView[];
  value: string;
  onChange(uid: string): void;
};

export function ModelSelect({ models, value, onChange, ...rest }: Props) {
  return (
    <select {...rest} value={value} onChange={(e) => onChange(e.target.value)}>
      {models.map((m) => (
        <option key={m.model_uid} value={m.model_uid}>
          {m.model_uid}
        </option>
      ))}
    </select>
  );
}
