import { z } from 'zod';
import { agentPolicyItem } from './agent-policy-schemas';
import { agentItem } from './agent-schemas';
import { errorBody, IF_MATCH_PATTERN } from './common-schemas';
import { enrollmentKeyItem } from './enrollment-key-schemas';
import { managementRoutes, errorStatuses, type RouteSpec } from './route-table';

type JsonSchema = Record<string, unknown>;

/** The shared components, named once: every answer that carries one refers to it. */
const SHARED_COMPONENTS: ReadonlyArray<readonly [string, z.ZodType]> = [
  ['ErrorBody', errorBody],
  ['AgentPolicy', agentPolicyItem],
  ['EnrollmentKey', enrollmentKeyItem],
  ['Agent', agentItem],
];

const COMPONENT_REF = (id: string) => `#/components/schemas/${id}`;
const isRaw = (r: RouteSpec['response']): r is Exclude<RouteSpec['response'], z.ZodType> => !(r instanceof z.ZodType);
const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Converts a registry's schemas to components (draft 2020-12), without each one's `$schema`/`$id`. */
function componentsOf(entries: ReadonlyArray<readonly [string, z.ZodType]>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of entries) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { io, target: 'draft-2020-12', uri: COMPONENT_REF, unrepresentable: 'any' }) as { schemas: Record<string, JsonSchema> };
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _s, $id: _i, ...rest }]) => [id, rest]),
  );
}

/** One JSON Schema per property of an object schema (path and query parameters), as input. */
function parametersOf(schema: z.ZodType, where: 'path' | 'query'): JsonSchema[] {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: s,
  }));
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid input (the message names the fields)',
  401: 'No valid token',
  403: 'The token\'s role does not allow the call',
  404: 'Not found',
  409: 'Conflict (it exists already, or a concurrent change)',
  412: 'The `If-Match` revision is not the current one: nothing changed',
  413: 'The body is too large',
  415: 'Unsupported content encoding',
  429: 'The store is overloaded: retry later',
  503: 'The store is unavailable',
};

const IF_MATCH = {
  name: 'If-Match',
  in: 'header',
  required: false,
  description: 'The revision the change is based on, as `"<revision>"` (the `ETag` of a read): a mismatch answers 412 and changes nothing.',
  schema: { type: 'string', pattern: IF_MATCH_PATTERN.source },
};

/**
 * The OpenAPI 3.1 document of the management API, generated from the route table: the request
 * schemas as the server reads them (io `input`), the answers as it writes them (io `output`).
 */
export function openApiDocument(opts: { version: string }): JsonSchema {
  const routes = Object.values(managementRoutes) as RouteSpec[];
  // A schema several routes share is one component, named after the first.
  const inputIds = new Map<z.ZodType, string>();
  const outputIds = new Map<z.ZodType, string>(SHARED_COMPONENTS.map(([id, schema]) => [schema, id]));
  for (const r of routes) {
    if (r.body && !inputIds.has(r.body)) inputIds.set(r.body, `${pascal(r.operationId)}Request`);
    if (!isRaw(r.response) && !outputIds.has(r.response)) outputIds.set(r.response, `${pascal(r.operationId)}Response`);
  }
  const entries = (ids: Map<z.ZodType, string>) => [...ids].map(([schema, id]) => [id, schema] as const);
  const schemas = { ...componentsOf(entries(outputIds), 'output'), ...componentsOf(entries(inputIds), 'input') };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters = [
      ...(r.params ? parametersOf(r.params, 'path') : []),
      ...(r.query ? parametersOf(r.query, 'query') : []),
      ...(r.ifMatch ? [IF_MATCH] : []),
    ];
    const ok = isRaw(r.response)
      ? { description: r.response.description, content: { [r.response.contentType]: { schema: { type: 'string', ...(r.response.contentType === 'application/octet-stream' ? { contentMediaType: 'application/octet-stream' } : {}) } } } }
      : {
          description: 'OK',
          content: { 'application/json': { schema: { $ref: COMPONENT_REF(outputIds.get(r.response)!) } } },
          ...(r.etag ? { headers: { ETag: { description: 'The policy\'s revision, as `"<revision>"`', schema: { type: 'string' } } } } : {}),
          ...(r.links?.length ? { links: Object.fromEntries(r.links.map((l) => [l.operationId, { operationId: l.operationId, parameters: { ...l.parameters } }])) } : {}),
        };
    const responses: Record<string, unknown> = { '200': ok };
    for (const status of errorStatuses(r)) {
      responses[String(status)] = { description: STATUS_TEXT[status] ?? 'Error', content: { 'application/json': { schema: { $ref: COMPONENT_REF('ErrorBody') } } } };
    }
    const roles = r.roles === 'public' ? 'none (it authenticates itself)' : r.roles.join(', ');
    paths[r.path] ??= {};
    paths[r.path]![r.method] = {
      operationId: r.operationId,
      summary: r.summary,
      description: `${r.description ? `${r.description}\n\n` : ''}Roles: ${roles}.`,
      tags: [r.tag],
      'x-fleet-roles': r.roles === 'public' ? [] : [...r.roles],
      ...(r.roles === 'public' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(r.body
        ? { requestBody: { required: !r.bodyOptional, content: { 'application/json': { schema: { $ref: COMPONENT_REF(inputIds.get(r.body)!) } } } } }
        : {}),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Fleet Server management API',
      version: opts.version,
      description:
        'The Kibana-compatible management API of this Fleet Server (`/api/fleet/...`). Every operation names the management roles it allows (`x-fleet-roles`). Errors are `{statusCode, error, message}`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    security: [{ bearer: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'A management key (`fmk_...`) or the bootstrap admin token. The console uses a session cookie instead.',
        },
      },
      schemas,
    },
  };
}
