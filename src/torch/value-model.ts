// The embodied value model of the paper (SPEC §4): a vision-language
// backbone's last hidden state (an ONNX export run by onnxruntime-node)
// followed by the libtorch value head.
import { OnnxBackbone, type BackboneInput, type OnnxBackboneOptions } from '../encoders/onnx.js';
import type { Tensor } from '../core/types.js';
import { ValueHead, type ValueFitOptions, type ValueFitResult } from './value-head.js';
import { checkOptions, rangeError } from '../core/validate.js';

/**
 * `ValueModel = backbone + head`: `predict(inputs)` embeds the inputs with the
 * backbone (`[B, H]`) and returns the head's values in [0, 1]. Training here is
 * the paper's first stage — the head only, with the backbone frozen
 * ({@link ValueModel.fitHead}); joint fine-tuning of the backbone needs the
 * backbone in a training framework and is out of scope.
 *
 * @example
 * const vm = await ValueModel.load('qwen3-vl-4b.onnx', 'value.safetensors');
 * const v = await vm.predict({ pixel_values: { data, shape: [8, 3, 448, 448] } }); // Float32Array [8]
 */
export class ValueModel {
  /**
   * @throws {RangeError} when the backbone declares a hidden size that differs from the head's inputDim
   */
  constructor(readonly backbone: OnnxBackbone, readonly head: ValueHead) {
    if (!(backbone instanceof OnnxBackbone)) throw new TypeError('Expected an OnnxBackbone for backbone but received ' + typeof backbone);
    if (!(head instanceof ValueHead)) throw new TypeError('Expected a ValueHead for head but received ' + typeof head);
    const H = backbone.hiddenSize;
    if (H !== undefined && H !== head.config.inputDim) {
      throw rangeError('head.config.inputDim', `the backbone's hidden size ${H} (${backbone.name})`, head.config.inputDim);
    }
  }

  /**
   * Loads an ONNX backbone and a value head saved with `ValueHead.save`.
   * @param backbonePath `.onnx` file of the backbone
   * @param headPath `.safetensors` file of the head (its `.json` config beside it)
   */
  static async load(backbonePath: string, headPath: string, opts?: { backbone?: OnnxBackboneOptions }): Promise<ValueModel> {
    const o = checkOptions(opts, 'opts', { backbone: 1 });
    const head = ValueHead.load(headPath);
    const backbone = await OnnxBackbone.load(backbonePath, o.backbone);
    return new ValueModel(backbone, head);
  }

  /** The backbone's hidden states `[B, H]`, checked against the head's inputDim. */
  async embed(inputs: BackboneInput | Record<string, BackboneInput>): Promise<Tensor> {
    const h = await this.backbone.embed(inputs);
    if (h.shape[1] !== this.head.config.inputDim) {
      throw new RangeError(`Expected the backbone ${this.backbone.name} to return [B, ${this.head.config.inputDim}] hidden states for the head but received [${h.shape.join(',')}]`);
    }
    return h;
  }

  /** Predicted values `[B]` in [0, 1] (expectation over the head's atoms). */
  async predict(inputs: BackboneInput | Record<string, BackboneInput>): Promise<Float32Array> {
    return this.head.predict(await this.embed(inputs));
  }

  /** Predicted distributions over the head's atoms, `[B, bins]`. */
  async predictDistribution(inputs: BackboneInput | Record<string, BackboneInput>): Promise<Tensor> {
    return this.head.predictDistribution(await this.embed(inputs));
  }

  /**
   * Stage one of the paper's training: embeds the inputs once with the frozen
   * backbone and fits the head on `targets` (e.g. `progressTargets(...).values`).
   */
  async fitHead(inputs: BackboneInput | Record<string, BackboneInput>, targets: Float32Array | number[], opts?: ValueFitOptions): Promise<ValueFitResult> {
    return this.head.fit(await this.embed(inputs), targets, opts);
  }
}
