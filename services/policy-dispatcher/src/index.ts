export * from './dispatcher-config';
export * from './policy-dispatcher-service';
export * from './change-dispatcher';
export * from './admin-token';
export * from './bootstrap';
export { parseAgentKuery, type AgentFilter } from './agent-kuery';
export { renderFullAgentPolicy } from './policy-renderer';
export { consoleRoutes, consoleCsp, CONSOLE_BASE } from './console-routes';
export { ConsoleSessions, SESSION_COOKIE } from './console-session';
