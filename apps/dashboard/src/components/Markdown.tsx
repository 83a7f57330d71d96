// A model's answer as markdown, rendered safely: react-markdown (raw HTML is never rendered, unsafe
// link protocols are dropped), GitHub tables and lists, code highlighted by highlight.js (through
// rehype-highlight), each code block with a copy button, links opening in a new tab without opener.
import { Children, isValidElement, type ReactNode } from 'react';
import ReactMarkdown, { type Components } from 'react-markdown';
import rehypeHighlight from 'rehype-highlight';
import remarkGfm from 'remark-gfm';
import { useI18n } from '../i18n/index.tsx';
import { CopyButton } from './CopyButton.tsx';

/** The plain text of rendered children (the highlighter splits code into spans). */
function textOf(node: ReactNode): string {
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  if (Array.isArray(node)) return node.map(textOf).join('');
  if (isValidElement<{ children?: ReactNode }>(node)) return textOf(node.props.children);
  return '';
}

function CodeBlock({ children }: { children?: ReactNode }) {
  const { t } = useI18n();
  const code = Children.toArray(children)[0];
  const className = isValidElement<{ className?: string }>(code)
    ? (code.props.className ?? '')
    : '';
  const lang = /language-([\w+-]+)/.exec(className)?.[1];
  return (
    <div className="code-block">
      <div className="code-head">
        <span className="code-lang">{lang ?? ''}</span>
        <CopyButton
          text={textOf(children).replace(/\n$/, '')}
          label={t('chat.copyCode')}
          className="btn btn-small btn-ghost"
        />
      </div>
      <pre>{children}</pre>
    </div>
  );
}

const components: Components = {
  pre: ({ children }) => <CodeBlock>{children}</CodeBlock>,
  a: ({ href, children }) => (
    <a href={href} target="_blank" rel="noopener noreferrer nofollow">
      {children}
    </a>
  ),
  // Images from a model's answer would load third-party URLs: shown as their text and link only.
  img: ({ src, alt }) => (
    <a
      href={typeof src === 'string' ? src : undefined}
      target="_blank"
      rel="noopener noreferrer nofollow"
    >
      {alt || (typeof src === 'string' ? src : '')}
    </a>
  ),
};

export function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown
        remarkPlugins={[remarkGfm]}
        rehypePlugins={[[rehypeHighlight, { detect: false }]]}
        skipHtml
        components={components}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
}
