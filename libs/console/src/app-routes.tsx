import { createBrowserRouter, Outlet } from 'react-router-dom';
import { AppLayout } from './app-layout';
import { AgentDetailsPage } from './pages/agent-details-page';
import { AgentsPage } from './pages/agents-page';
import { EnrollmentTokensPage } from './pages/enrollment-tokens-page';
import { LoginPage } from './pages/login-page';
import { NotFoundPage } from './pages/not-found-page';
import { OverviewPage } from './pages/overview-page';
import { PoliciesPage } from './pages/policies-page';
import { PolicyDetailsPage } from './pages/policy-details-page';
import { RolloutPage } from './pages/rollout-page';
import { RequireSession, SessionProvider } from './session-context';

/**
 * The console's pages at Kibana Fleet's paths (under the /app/fleet basename). Every page but the
 * sign-in redirects there without a session. Filters, paging and tabs live in the query string, so
 * every view is a deep link.
 */
export const router = createBrowserRouter(
  [
    {
      element: (
        <SessionProvider>
          <Outlet />
        </SessionProvider>
      ),
      children: [
        { path: '/login', element: <LoginPage /> },
        {
          element: (
            <RequireSession>
              <AppLayout />
            </RequireSession>
          ),
          children: [
            { path: '/', element: <OverviewPage /> },
            { path: '/agents', element: <AgentsPage /> },
            { path: '/agents/:agentId', element: <AgentDetailsPage /> },
            { path: '/policies', element: <PoliciesPage /> },
            { path: '/policies/:policyId', element: <PolicyDetailsPage /> },
            { path: '/enrollment-tokens', element: <EnrollmentTokensPage /> },
            // Live rollout progress: /rollouts/policies/:policyId?revision=N or /rollouts/actions/:actionId
            { path: '/rollouts/:kind/:targetId', element: <RolloutPage /> },
            { path: '*', element: <NotFoundPage /> },
          ],
        },
      ],
    },
  ],
  { basename: '/app/fleet' },
);
