// An error from the server, shown where the action happened.
export function ErrorNote({ error }: { error: Error | string | null | undefined }) {
  if (!error) return null;
  const text = typeof error === 'string' ? error : error.message;
  return (
    <p className="note note-error" role="alert">
      {text}
    </p>
  );
}
