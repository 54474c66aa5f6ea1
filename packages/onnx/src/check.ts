// A structural checker of ONNX models, standing in for Python onnx's checker (not installable here):
// opset import and IR version, every operator a standard one that exists in the declared opset
// with that version's input count and attributes, nodes in topological order, unique names,
// initializer data matching their dims, typed graph inputs and outputs, every output produced.
// It knows the operators the exporter uses; ONNX Runtime's own load-time checks (shape inference,
// opset validation, see ./node) complement it.
import { FormatError } from '@prufed/model';
import {
  DataType,
  decodeModel,
  irVersion,
  type ModelProto,
  type TensorProto,
  type ValueInfoProto,
} from './graph';

/** One version of an operator's schema: the opset that introduced it, its inputs and attributes. */
interface OpSchema {
  since: number;
  inputs: [min: number, max: number];
  attributes: string[];
}

const unary = (since = 1): OpSchema[] => [{ since, inputs: [1, 1], attributes: [] }];
const binary = (since = 1): OpSchema[] => [{ since, inputs: [2, 2], attributes: [] }];

/**
 * The standard (default domain) operators of the exporter, each with its schema versions up to
 * opset 18 where the inputs or attributes changed (from ONNX's Changelog.md). All have one output.
 */
const standardOps: Record<string, OpSchema[]> = {
  Add: binary(),
  Concat: [{ since: 1, inputs: [1, Number.POSITIVE_INFINITY], attributes: ['axis'] }],
  Expand: binary(8),
  Gather: [{ since: 1, inputs: [2, 2], attributes: ['axis'] }],
  Less: binary(),
  MatMul: binary(),
  Mul: binary(),
  Neg: unary(),
  Range: [{ since: 11, inputs: [3, 3], attributes: [] }],
  Reciprocal: unary(),
  ReduceMean: [
    { since: 1, inputs: [1, 1], attributes: ['axes', 'keepdims'] },
    { since: 18, inputs: [1, 2], attributes: ['keepdims', 'noop_with_empty_axes'] },
  ],
  Reshape: [
    { since: 1, inputs: [1, 1], attributes: ['shape'] },
    { since: 5, inputs: [2, 2], attributes: [] },
    { since: 14, inputs: [2, 2], attributes: ['allowzero'] },
  ],
  Shape: [
    { since: 1, inputs: [1, 1], attributes: [] },
    { since: 15, inputs: [1, 1], attributes: ['start', 'end'] },
  ],
  Sigmoid: unary(),
  Slice: [
    { since: 1, inputs: [1, 1], attributes: ['axes', 'starts', 'ends'] },
    { since: 10, inputs: [3, 5], attributes: [] },
  ],
  Softmax: [{ since: 1, inputs: [1, 1], attributes: ['axis'] }],
  Sqrt: unary(),
  Transpose: [{ since: 1, inputs: [1, 1], attributes: ['perm'] }],
  Unsqueeze: [
    { since: 1, inputs: [1, 1], attributes: ['axes'] },
    { since: 13, inputs: [2, 2], attributes: [] },
  ],
  Where: [{ since: 9, inputs: [3, 3], attributes: [] }],
};

/** Opsets this checker knows the operator schemas of. */
const knownOpsets = { min: 13, max: 18 };

/** Bytes per element of the initializer types the checker can measure. */
const elementBytes: Partial<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.INT64]: 8,
  [DataType.INT32]: 4,
  [DataType.BOOL]: 1,
};

/** The schema of opType in force at `opset`, or undefined when it does not exist there. */
function schemaAt(opType: string, opset: number): OpSchema | undefined {
  return standardOps[opType]?.filter((s) => s.since <= opset).at(-1);
}

function initializerProblems(tensor: TensorProto): string[] {
  const name = tensor.name ?? '';
  const dims = (tensor.dims ?? []).map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    return [`initializer ${name} has invalid dims [${dims}]`];
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const bytes = elementBytes[tensor.dataType ?? 0];
  if (bytes === undefined)
    return [`initializer ${name} has data type ${tensor.dataType}, which this checker does not know`];
  const raw = tensor.rawData?.length ?? 0;
  const typed = tensor.floatData?.length || tensor.int64Data?.length || tensor.int32Data?.length || 0;
  if (raw > 0 && typed > 0) return [`initializer ${name} holds both raw_data and typed data; keep one`];
  const found = raw > 0 ? raw / bytes : typed;
  return found === count
    ? []
    : [`initializer ${name} has dims [${dims}] (${count} values) but holds ${found} values`];
}

function valueInfoProblems(info: ValueInfoProto, role: string): string[] {
  const tensorType = info.type?.tensorType;
  if (!tensorType?.elemType) return [`graph ${role} ${info.name} has no tensor element type`];
  const dims = tensorType.shape?.dim ?? [];
  const bad = dims.findIndex((d) => !d.dimParam && (d.dimValue === undefined || d.dimValue === null));
  return bad >= 0 ? [`graph ${role} ${info.name} dimension ${bad} has neither a size nor a name`] : [];
}

/** The structural problems of an ONNX model (bytes of a .onnx file or a decoded ModelProto); [] when none. */
export function onnxStructureProblems(model: ModelProto | Uint8Array): string[] {
  const proto = model instanceof Uint8Array ? decodeModel(model) : model;
  const problems: string[] = [];
  const defaultDomain = (proto.opsetImport ?? []).filter((o) => !o.domain || o.domain === 'ai.onnx');
  if (defaultDomain.length !== 1) {
    return [
      `the model must import the default ONNX domain exactly once, found ${defaultDomain.length} imports`,
    ];
  }
  const opset = Number(defaultDomain[0].version);
  if (opset < knownOpsets.min || opset > knownOpsets.max) {
    problems.push(
      `opset ${opset} is outside the opsets ${knownOpsets.min}..${knownOpsets.max} this checker knows`,
    );
  }
  if (Number(proto.irVersion ?? 0) < irVersion) {
    problems.push(
      `IR version ${Number(proto.irVersion ?? 0)} is below ${irVersion}, which opsets 17 and 18 need`,
    );
  }
  const graph = proto.graph;
  if (!graph) return [...problems, 'the model has no graph'];

  const defined = new Set<string>();
  const define = (name: string, what: string) => {
    if (!name) problems.push(`a ${what} has an empty name`);
    else if (defined.has(name)) problems.push(`${what} ${name} reuses a name defined earlier`);
    defined.add(name);
  };
  for (const input of graph.input ?? []) {
    define(input.name ?? '', 'graph input');
    problems.push(...valueInfoProblems(input, 'input'));
  }
  for (const tensor of graph.initializer ?? []) {
    define(tensor.name ?? '', 'initializer');
    problems.push(...initializerProblems(tensor));
  }
  const nodeNames = new Set<string>();
  for (const node of graph.node ?? []) {
    const opType = node.opType ?? '';
    const label = `node ${node.name || '(unnamed)'} (${opType})`;
    if (node.name) {
      if (nodeNames.has(node.name)) problems.push(`${label} reuses a node name`);
      nodeNames.add(node.name);
    }
    if (node.domain && node.domain !== 'ai.onnx') {
      problems.push(`${label} is in domain ${node.domain}, not a standard operator`);
      continue;
    }
    const schema = schemaAt(opType, opset);
    const inputs = node.input ?? [];
    if (schema === undefined) {
      problems.push(
        standardOps[opType] === undefined
          ? `${label}: ${opType} is not one of the standard operators ${Object.keys(standardOps).join(', ')}`
          : `${label}: ${opType} does not exist in opset ${opset} (since ${standardOps[opType][0].since})`,
      );
    } else {
      const [min, max] = schema.inputs;
      if (inputs.length < min || inputs.length > max) {
        problems.push(
          `${label} has ${inputs.length} inputs, but opset ${opset} ${opType} takes ${min}..${max}`,
        );
      }
      for (const attr of node.attribute ?? []) {
        if (!schema.attributes.includes(attr.name ?? '')) {
          problems.push(
            `${label} has attribute ${attr.name}, which opset ${opset} ${opType} does not define`,
          );
        }
      }
    }
    for (const input of inputs) {
      if (input !== '' && !defined.has(input)) problems.push(`${label} uses ${input} before it is produced`);
    }
    if ((node.output ?? []).length !== 1)
      problems.push(`${label} has ${(node.output ?? []).length} outputs, not 1`);
    for (const output of node.output ?? []) define(output, `output of ${label}`);
  }
  if ((graph.output ?? []).length === 0) problems.push('the graph declares no outputs');
  for (const output of graph.output ?? []) {
    if (!defined.has(output.name ?? '')) problems.push(`graph output ${output.name} is produced by no node`);
    problems.push(...valueInfoProblems(output, 'output'));
  }
  return problems;
}

/** Throws a FormatError listing the structural problems of an ONNX model, if any. */
export function assertOnnxStructure(model: ModelProto | Uint8Array): void {
  const problems = onnxStructureProblems(model);
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join('; ');
    const more = problems.length > 10 ? ` (and ${problems.length - 10} more)` : '';
    throw new FormatError(`the ONNX model is malformed: ${shown}${more}; export it again with exportOnnx`);
  }
}
