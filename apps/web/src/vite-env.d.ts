// Vite's `?url` imports: the emitted asset's URL (used for onnxruntime-web's .wasm and .mjs files).
declare module '*?url' {
  const url: string;
  export default url;
}
