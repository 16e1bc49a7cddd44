// EUI's own Emotion instance (the ES module build Vite bundles); typed by EUI under its src/ path.
declare module '@elastic/eui/es/services/emotion/css' {
  export * from '@elastic/eui/src/services/emotion/css';
}
