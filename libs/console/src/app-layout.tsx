import {
  EuiButtonEmpty,
  EuiHeader,
  EuiIcon,
  EuiLink,
  EuiHeaderSection,
  EuiHeaderSectionItem,
  EuiPageTemplate,
  EuiSideNav,
  EuiText,
  EuiToolTip,
} from '@elastic/eui';
import { Outlet, useLocation, useNavigate } from 'react-router-dom';
import { useSession } from './session-context';
import { useThemeMode } from './theme-context';

/** The console's sections, in Kibana Fleet's vocabulary and at its paths (relative to /app/fleet/). */
export const NAV_ITEMS = [
  { id: 'overview', name: 'Overview', path: '/' },
  { id: 'agents', name: 'Agents', path: '/agents' },
  { id: 'policies', name: 'Agent policies', path: '/policies' },
  { id: 'enrollment-tokens', name: 'Enrollment tokens', path: '/enrollment-tokens' },
] as const;

function activeSection(pathname: string): string {
  // A rollout belongs to what it rolls out: a policy revision, or an action on agents.
  if (pathname.startsWith('/rollouts/policies')) return 'policies';
  if (pathname.startsWith('/rollouts/actions')) return 'agents';
  const hit = NAV_ITEMS.filter((i) => i.path !== '/' && pathname.startsWith(i.path));
  return hit[0]?.id ?? 'overview';
}

/** The frame of every signed-in page: header (theme, session, sign-out), side navigation, content. */
export function AppLayout() {
  const { session, signOut } = useSession();
  const { colorMode, toggle } = useThemeMode();
  const navigate = useNavigate();
  const location = useLocation();
  const selected = activeSection(location.pathname);

  return (
    <>
      <EuiHeader position="fixed" data-test-subj="consoleHeader">
        <EuiHeaderSection>
          <EuiHeaderSectionItem>
            <EuiLink
              href="/app/fleet/"
              color="text"
              onClick={(e: React.MouseEvent) => {
                e.preventDefault();
                void navigate('/');
              }}
            >
              <EuiIcon type="logoElastic" size="l" aria-hidden /> <strong>Fleet</strong>
            </EuiLink>
          </EuiHeaderSectionItem>
        </EuiHeaderSection>
        <EuiHeaderSection side="right">
          <EuiHeaderSectionItem>
            <EuiButtonEmpty
              size="s"
              iconType={colorMode === 'light' ? 'moon' : 'sun'}
              onClick={toggle}
              data-test-subj="themeToggle"
              aria-label={colorMode === 'light' ? 'Switch to the dark theme' : 'Switch to the light theme'}
            >
              {colorMode === 'light' ? 'Dark' : 'Light'}
            </EuiButtonEmpty>
          </EuiHeaderSectionItem>
          <EuiHeaderSectionItem>
            <EuiToolTip content={session ? `Role: ${session.role}; session ends ${new Date(session.expires_at).toLocaleString()}` : ''}>
              <EuiText size="s" data-test-subj="sessionName" tabIndex={0}>
                {session?.name}
              </EuiText>
            </EuiToolTip>
          </EuiHeaderSectionItem>
          <EuiHeaderSectionItem>
            <EuiButtonEmpty
              size="s"
              iconType="logOut"
              data-test-subj="signOutButton"
              onClick={() => {
                void signOut().then(() => navigate('/login'));
              }}
            >
              Sign out
            </EuiButtonEmpty>
          </EuiHeaderSectionItem>
        </EuiHeaderSection>
      </EuiHeader>
      <EuiPageTemplate panelled restrictWidth={false} offset={48} grow>
        <EuiPageTemplate.Sidebar sticky>
          <EuiSideNav
            aria-label="Fleet"
            heading="Fleet"
            items={[
              {
                id: 'fleet',
                name: 'Fleet',
                items: NAV_ITEMS.map((item) => ({
                  id: item.id,
                  name: item.name,
                  isSelected: item.id === selected,
                  'data-test-subj': `nav-${item.id}`,
                  href: `/app/fleet${item.path === '/' ? '/' : item.path}`,
                  onClick: (e: React.MouseEvent) => {
                    e.preventDefault();
                    void navigate(item.path);
                  },
                })),
              },
            ]}
          />
        </EuiPageTemplate.Sidebar>
        <Outlet />
      </EuiPageTemplate>
    </>
  );
}
