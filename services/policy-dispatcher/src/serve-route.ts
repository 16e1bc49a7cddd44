import { expressPath, type RouteSpec } from '@fleet/management-api';
import { validateInput } from '@fleet/service-kit';
import type { Request, Response, Router } from 'express';
import type { z } from 'zod';
import { allow } from './management-auth';
import { readJsonInput } from './management-input';

const DEFAULT_MAX_BODY = 1024 * 1024;

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a handler of a route sees: its path parameters, query and body, validated by the table's schemas. */
export interface RouteInput<P, Q, B> {
  params: Out<P>;
  query: Out<Q>;
  body: Out<B>;
}

export type RouteHandler<P, Q, B> = (input: RouteInput<P, Q, B>, req: Request, res: Response) => Promise<void> | void;

/**
 * Registers a route of the table on `router` (mounted at `/api/fleet`): its roles are applied
 * (`allow`), then its path parameters, query and body are validated with the table's schemas, so
 * what the server accepts is what the OpenAPI document says.
 */
export function serve<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
  router: Router,
  spec: RouteSpec<P, Q, B>,
  handler: RouteHandler<P, Q, B>,
): void {
  const guard = spec.roles === 'public' ? [] : [allow(...spec.roles)];
  router[spec.method](expressPath(spec as RouteSpec), ...guard, async (req: Request, res: Response) => {
    const params = spec.params ? validateInput(spec.params, req.params) : undefined;
    const query = spec.query ? validateInput(spec.query, req.query) : undefined;
    const body = spec.body ? validateInput(spec.body, await readJsonInput(req, spec.maxBodyBytes ?? DEFAULT_MAX_BODY, spec.bodyOptional === true)) : undefined;
    await handler({ params, query, body } as RouteInput<P, Q, B>, req, res);
  });
}
