// HTTP delivery of merged ONNX models (see ../onnx-models.ts). Public, no token: GET
// /models/latest/<tier>.onnx, the latest completed round's global of a tier, for the volunteer
// page's "Try the model" panel (it holds no token). The researcher API's
// /api/rounds/:n/model.onnx?tier= (token) serves any round through sendOnnx too. Responses carry
// the round in X-PruFed-Round and an ETag per run, round and tier, so a browser revalidates cheaply.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Tier, tiers } from '@prufed/fl';
import type { Coordinator } from '../coordinator';
import type { ExportedModel, OnnxModels } from '../onnx-models';
import type { Store } from '../store';
import type { TierPlan } from '../tiers';
import { sendJson } from './app';

export const latestModelPrefix = '/models/latest/';

export interface OnnxRouteOptions {
  models: OnnxModels;
  coordinator: Coordinator;
  store: Store;
  tierPlan: TierPlan;
  modelId: string;
}

/** The enabled tier a ?tier= value or path segment names, or why it names none. */
export function enabledTier(name: string, plan: TierPlan): { tier: Tier } | { error: string } {
  const tier = tiers.find((candidate) => candidate === name);
  return tier && plan.layers[tier]
    ? { tier }
    : { error: `tier must be one of ${plan.enabled.join(', ')}, got "${name.slice(0, 16)}"` };
}

/** Sends the model of `round` and `tier` (404 when the round is not stored), honouring If-None-Match. */
export async function sendOnnx(
  req: IncomingMessage,
  res: ServerResponse,
  options: OnnxRouteOptions,
  round: number,
  tier: Tier,
): Promise<void> {
  const etag = `"onnx-${options.store.currentRunId}-${round}-${tier}"`;
  res.setHeader('ETag', etag);
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('X-PruFed-Round', String(round));
  const exists = options.store.adapterBytes(round) !== undefined;
  if (exists && req.headers['if-none-match'] === etag) {
    res.writeHead(304).end();
    return;
  }
  const model: ExportedModel | undefined = exists ? await options.models.model(round, tier) : undefined;
  if (!model) {
    sendJson(res, 404, {
      error: `round ${round} is not completed; the last completed round is ${options.store.lastRound()}`,
    });
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': model.bytes.byteLength,
    'Content-Disposition': `attachment; filename="${options.modelId}-round-${round}-tier-${tier}.onnx"`,
    'X-PruFed-Cache': model.cached ? 'hit' : 'miss',
  });
  res.end(req.method === 'HEAD' ? undefined : model.bytes);
}

/** Handles GET /models/latest/<tier>.onnx; false for any other path. */
export function createLatestModelRoute(options: OnnxRouteOptions) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (!url.pathname.startsWith(latestModelPrefix)) return false;
    const name = /^(.*)\.onnx$/.exec(url.pathname.slice(latestModelPrefix.length))?.[1] ?? '';
    const parsed = enabledTier(name, options.tierPlan);
    if ('error' in parsed) {
      sendJson(res, 404, {
        error: `no model at ${url.pathname}: ${parsed.error} (${latestModelPrefix}<tier>.onnx)`,
      });
      return true;
    }
    await sendOnnx(req, res, options, options.coordinator.completedRound, parsed.tier);
    return true;
  };
}
