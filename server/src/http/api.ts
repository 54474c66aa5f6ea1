// The researcher JSON API (token required: `Authorization: Bearer <token>` or `?token=`):
//   GET /api/state                    the dashboard's snapshot (status, settings, clients, rounds,
//                                     per-tier metrics, rejections) plus the run id and all counters
//   GET /api/rounds/:n/adapter?tier=  round n's global adapter as PEFT safetensors (the tier's layers)
//   GET /api/rounds/:n/adapter-config?tier=  the matching PEFT adapter_config.json
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tiers } from '@prufed/fl';
import { adapterFromPeft, adapterToPeft } from '@prufed/model';
import { type Coordinator, tokenMatches } from '../coordinator';
import type { Store } from '../store';
import { sliceAdapter, type TierPlan } from '../tiers';
import { sendJson } from './app';

export interface ApiOptions {
  coordinator: Coordinator;
  store: Store;
  tierPlan: TierPlan;
  token: string;
  modelId: string;
}

function presentedToken(req: IncomingMessage, url: URL): string | null {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length);
  return url.searchParams.get('token');
}

export function createApiHandler(options: ApiOptions) {
  const { coordinator, store, tierPlan } = options;
  return (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    const adapterRoute = /^\/api\/rounds\/(0|[1-9][0-9]{0,8})\/(adapter|adapter-config)$/.exec(url.pathname);
    if (url.pathname !== '/api/state' && !adapterRoute) return false;
    if (!tokenMatches(presentedToken(req, url), options.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      sendJson(res, 401, {
        error: 'missing or wrong token; send "Authorization: Bearer <token>" (printed at server start)',
      });
      return true;
    }
    if (!adapterRoute) {
      sendJson(res, 200, {
        ...coordinator.snapshot(),
        runId: store.currentRunId,
        counters: coordinator.counters,
      });
      return true;
    }
    const round = Number(adapterRoute[1]);
    const tierParam = url.searchParams.get('tier');
    const tier = tiers.find((name) => name === tierParam);
    if (tierParam !== null && (!tier || !tierPlan.layers[tier])) {
      sendJson(res, 400, {
        error: `tier must be one of ${tierPlan.enabled.join(', ')}, got "${tierParam.slice(0, 16)}"`,
      });
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
    if (adapterRoute[2] === 'adapter-config') {
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
