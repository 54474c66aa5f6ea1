// @prufed/model/node: Node-only helpers (file system access) on top of the isomorphic core.
export * from './model-dir';
export * from './tiny-model';
