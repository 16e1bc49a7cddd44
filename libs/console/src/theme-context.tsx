import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';

export type ColorMode = 'light' | 'dark';
const STORAGE_KEY = 'fleet-console-color-mode';

interface ThemeState {
  colorMode: ColorMode;
  toggle: () => void;
}

const ThemeContext = createContext<ThemeState>({ colorMode: 'light', toggle: () => undefined });

/** Light or dark (EUI's two color modes); the choice is kept in localStorage (no secret there). */
export function ThemeModeProvider({ children }: { children: (mode: ColorMode) => ReactNode }) {
  const initial = (): ColorMode => {
    const saved = window.localStorage.getItem(STORAGE_KEY);
    if (saved === 'light' || saved === 'dark') return saved;
    return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  };
  const [colorMode, setColorMode] = useState<ColorMode>(initial);
  const value = useMemo<ThemeState>(
    () => ({
      colorMode,
      toggle() {
        const next = colorMode === 'light' ? 'dark' : 'light';
        window.localStorage.setItem(STORAGE_KEY, next);
        setColorMode(next);
      },
    }),
    [colorMode],
  );
  return <ThemeContext.Provider value={value}>{children(colorMode)}</ThemeContext.Provider>;
}

export const useThemeMode = () => useContext(ThemeContext);
