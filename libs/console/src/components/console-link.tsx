import { EuiLink, type EuiLinkAnchorProps } from '@elastic/eui';
import type { ReactNode } from 'react';
import { useHref, useLinkClickHandler } from 'react-router-dom';

/** An EuiLink to a console path: a real href (open in a new tab works) and client-side navigation on click. */
export function ConsoleLink({ to, children, ...rest }: { to: string; children: ReactNode } & Omit<EuiLinkAnchorProps, 'href' | 'onClick'>) {
  const href = useHref(to);
  const onClick = useLinkClickHandler<HTMLAnchorElement>(to);
  return (
    <EuiLink href={href} onClick={onClick} {...rest}>
      {children}
    </EuiLink>
  );
}
