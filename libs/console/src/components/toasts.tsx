import { EuiGlobalToastList, type EuiGlobalToastListToast } from '@elastic/eui';
import { useEffect, useState } from 'react';

/**
 * Toasts that outlive the page that raised them (a save that navigates on): a small store in the
 * module and the list that shows it. Bounded: the oldest go when too many pile up.
 */
const MAX_TOASTS = 5;
let toasts: EuiGlobalToastListToast[] = [];
let nextId = 0;
const listeners = new Set<(t: EuiGlobalToastListToast[]) => void>();

function publish(next: EuiGlobalToastListToast[]): void {
  toasts = next;
  for (const l of listeners) l(toasts);
}

export function addToast(toast: Omit<EuiGlobalToastListToast, 'id'>): void {
  publish([...toasts, { ...toast, id: `toast-${++nextId}` }].slice(-MAX_TOASTS));
}

export const toastSuccess = (title: string, text?: string) => addToast({ title, color: 'success', iconType: 'check', ...(text ? { text } : {}) });
export const toastDanger = (title: string, text: string) => addToast({ title, color: 'danger', iconType: 'error', text });

export function GlobalToasts() {
  const [shown, setShown] = useState(toasts);
  useEffect(() => {
    listeners.add(setShown);
    setShown(toasts);
    return () => {
      listeners.delete(setShown);
    };
  }, []);
  return (
    <EuiGlobalToastList
      toasts={shown}
      dismissToast={(t) => publish(toasts.filter((x) => x.id !== t.id))}
      toastLifeTimeMs={6000}
    />
  );
}
