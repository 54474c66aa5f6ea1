// @prufed/fl: federated logic without transport (strategies, sampling, validation, protocol).
export * from './adapter-check';
export * from './aggregate';
export * from './fedadam';
export * from './guards';
export * from './peft-update';
export * from './product';
export * from './protocol';
export * from './sampling';
export * from './slice';
export * from './strategy';
export * from './types';
export * from './validate';
