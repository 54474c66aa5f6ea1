// Capability probe and tier choice: what this device can train (DESIGN.md "Capability -> tier").
export * from './choose-tier';
export * from './estimate';
export * from './probe';
