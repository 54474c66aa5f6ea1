// A small builder of ONNX graphs on top of onnx-proto's generated protobuf types: nodes with unique
// output names, float32 / int64 initializers stored as little-endian raw_data, typed graph inputs
// and outputs, and the encoder that turns the whole model into the bytes of a .onnx file.
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const DataType = onnx.TensorProto.DataType;

/** The ONNX IR version of opsets 17 and 18 (onnx 1.12 / 1.13). */
export const irVersion = 8;

/** Attribute values this exporter needs: one integer (axis, keepdims) or a list of them (perm, axes). */
export type AttributeValue = number | number[];

/** A dimension: a fixed size or the name of a dynamic one (dim_param), e.g. 'batch'. */
export type Dim = number | string;

/** A typed graph input or output. */
export function valueInfo(name: string, elemType: number, dims: Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  return Array.isArray(value)
    ? { name, type: AttributeType.INTS, ints: value }
    : { name, type: AttributeType.INT, i: value };
}

/** Little-endian bytes of a typed array (every platform ONNX Runtime runs on is little-endian). */
function rawBytes(data: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly int64Constants = new Map<string, string>();

  /** A fresh name: `base`, or `base_2`, `base_3`... when taken. */
  private unique(base: string): string {
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Reserves a name the caller defines itself (a graph input); throws if it is taken. */
  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`graph name ${name} is defined twice`);
    this.used.add(name);
    return name;
  }

  /** Appends a node with one output named after `outputName`; returns the output's name. */
  node(
    opType: string,
    inputs: string[],
    outputName: string,
    attributes: Record<string, AttributeValue> = {},
  ): string {
    return this.push(opType, inputs, this.unique(outputName), attributes);
  }

  /** Appends a node whose output is exactly `outputName`, e.g. a graph output; throws if taken. */
  namedNode(
    opType: string,
    inputs: string[],
    outputName: string,
    attributes: Record<string, AttributeValue> = {},
  ): string {
    return this.push(opType, inputs, this.reserve(outputName), attributes);
  }

  private push(
    opType: string,
    inputs: string[],
    output: string,
    attributes: Record<string, AttributeValue>,
  ): string {
    this.nodes.push({
      opType,
      name: `${output}/${opType}`,
      input: inputs,
      output: [output],
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return output;
  }

  /** A float32 initializer; returns its name. */
  float(name: string, dims: number[], data: Float32Array): string {
    const unique = this.reserve(name);
    this.initializers.push({ name: unique, dims, dataType: DataType.FLOAT, rawData: rawBytes(data) });
    return unique;
  }

  /** An int64 initializer (a scalar when dims is []), shared by every use of the same values. */
  int64(dims: number[], values: number[]): string {
    const key = `${dims.join('x')}:${values.join(',')}`;
    const known = this.int64Constants.get(key);
    if (known !== undefined) return known;
    const name = this.reserve(`const_i64_${this.int64Constants.size}`);
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({ name, dims, dataType: DataType.INT64, rawData: rawBytes(data) });
    this.int64Constants.set(key, name);
    return name;
  }
}

/** The bytes of a .onnx file. */
export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Parses the bytes of a .onnx file. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}
