// The researcher JSON API (token required: `Authorization: Bearer <token>` or `?token=`):
//   GET /api/state                    the dashboard's snapshot (status, settings, clients, rounds,
//                                     per-tier metrics with the server's evaluations, rejections) plus
//                                     the run id, all counters and the evaluation queue with timings
//   GET /api/rounds/:n/adapter?tier=  round n's global adapter as PEFT safetensors (the tier's layers)
//   GET /api/rounds/:n/adapter-config?tier=  the matching PEFT adapter_config.json
//   GET /api/rounds/:n/model.onnx?tier=  round n's tier global merged into the base model, as ONNX
import type { IncomingMessage, ServerResponse } from 'node:http';
import { adapterFromPeft, adapterToPeft } from '@prufed/model';
import { tokenMatches } from '../coordinator';
import type { Evaluator } from '../evaluation';
import { sliceAdapter } from '../tiers';
import { sendJson } from './app';
import { enabledTier, type OnnxRouteOptions, sendOnnx } from './onnx-routes';

export interface ApiOptions extends OnnxRouteOptions {
  token: string;
  /** Undefined when evaluation is off. */
  evaluator?: Evaluator;
  evaluationSamples: number;
}

function presentedToken(req: IncomingMessage, url: URL): string | null {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length);
  return url.searchParams.get('token');
}

export function createApiHandler(options: ApiOptions) {
  const { coordinator, store, tierPlan, evaluator } = options;
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const roundRoute = /^\/api\/rounds\/(0|[1-9][0-9]{0,8})\/(adapter|adapter-config|model\.onnx)$/.exec(
      url.pathname,
    );
    if (url.pathname !== '/api/state' && !roundRoute) return false;
    if (!tokenMatches(presentedToken(req, url), options.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      sendJson(res, 401, {
        error: 'missing or wrong token; send "Authorization: Bearer <token>" (printed at server start)',
      });
      return true;
    }
    if (!roundRoute) {
      sendJson(res, 200, {
        ...coordinator.snapshot(),
        runId: store.currentRunId,
        counters: coordinator.counters,
        evaluation: {
          enabled: evaluator !== undefined,
          samples: evaluator ? options.evaluationSamples : 0,
          ...(evaluator?.status() ?? { running: null, pending: null, skipped: [] }),
          results: store.evaluations(),
        },
      });
      return true;
    }
    const round = Number(roundRoute[1]);
    const tierParam = url.searchParams.get('tier');
    const parsed = tierParam === null ? undefined : enabledTier(tierParam, tierPlan);
    if (parsed && 'error' in parsed) {
      sendJson(res, 400, { error: parsed.error });
      return true;
    }
    const tier = parsed?.tier;
    if (roundRoute[2] === 'model.onnx') {
      if (tier === undefined) {
        sendJson(res, 400, {
          error: `a model is one tier's variant; add ?tier= with one of ${tierPlan.enabled.join(', ')}`,
        });
      } else {
        await sendOnnx(req, res, options, round, tier);
      }
      return true;
    }
    const bytes = store.adapterBytes(round);
    if (!bytes) {
      sendJson(res, 404, {
        error: `round ${round} is not completed; the last completed round is ${store.lastRound()}`,
      });
      return true;
    }
    const adapter = adapterFromPeft(bytes, store.runPeftConfig);
    const peft = tier
      ? adapterToPeft(sliceAdapter(adapter, tierPlan.layers[tier]!))
      : { safetensors: bytes, config: store.runPeftConfig };
    if (roundRoute[2] === 'adapter-config') {
      sendJson(res, 200, peft.config);
      return true;
    }
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': peft.safetensors.byteLength,
      'Content-Disposition': `attachment; filename="${options.modelId}-round-${round}${tier ? `-tier-${tier}` : ''}.safetensors"`,
    });
    res.end(req.method === 'HEAD' ? undefined : peft.safetensors);
    return true;
  };
}
