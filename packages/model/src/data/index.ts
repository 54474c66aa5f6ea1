// The WordNet instruction-tuning data: task records, instruction format, metrics, federated
// partitions, the WordNet parsers and the dataset builder.
export * from './instruction';
export * from './metrics';
export * from './partition';
export * from './sampling';
export * from './task';
export * from './task-scoring';
export * from './wordnet';
export * from './wordnet-dataset';
