import { EuiGlobalToastList, type EuiGlobalToastListToast } from '@elastic/eui';
import { useCallback, useMemo, useRef, useState, type ReactNode } from 'react';

type ToastInput = { title: string; color?: EuiGlobalToastListToast['color']; text?: ReactNode; testSubj?: string };

const MAX_TOASTS = 5;

/**
 * The toasts of one page: `add` shows one (at most five stay), `list` renders them. Kept per page
 * (the layout is shared with other pages), so a toast goes when the page is left.
 */
export function usePageToasts(): { add: (t: ToastInput) => void; list: ReactNode } {
  const [toasts, setToasts] = useState<EuiGlobalToastListToast[]>([]);
  const seq = useRef(0);
  const add = useCallback((t: ToastInput) => {
    const id = `toast-${++seq.current}`;
    const iconType = t.color === 'danger' ? 'error' : t.color === 'warning' ? 'warning' : 'check';
    setToasts((prev) => [
      ...prev.slice(-(MAX_TOASTS - 1)),
      { id, title: t.title, color: t.color ?? 'success', iconType, text: t.text, 'data-test-subj': t.testSubj ?? 'actionToast' },
    ]);
  }, []);
  const dismiss = useCallback((toast: EuiGlobalToastListToast) => setToasts((prev) => prev.filter((x) => x.id !== toast.id)), []);
  const list = useMemo(
    () => <EuiGlobalToastList toasts={toasts} dismissToast={dismiss} toastLifeTimeMs={10_000} aria-label="Notifications" />,
    [toasts, dismiss],
  );
  return { add, list };
}
