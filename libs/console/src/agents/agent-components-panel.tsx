import { EuiAccordion, EuiBadge, EuiBasicTable, EuiCodeBlock, EuiEmptyPrompt, EuiFlexGroup, EuiFlexItem, EuiPanel, EuiSpacer, EuiText, EuiTitle } from '@elastic/eui';
import type { AgentComponent, AgentView, ComponentUnit } from './agent-types';

/** The health an Elastic Agent reports for components and units, in Kibana's colors. */
const HEALTH_COLOR: Record<string, string> = {
  HEALTHY: 'success',
  DEGRADED: 'warning',
  FAILED: 'danger',
  STARTING: 'primary',
  CONFIGURING: 'primary',
  STOPPING: 'default',
  STOPPED: 'default',
};

export function HealthBadge({ status, testSubj }: { status: string; testSubj?: string }) {
  return (
    <EuiBadge color={HEALTH_COLOR[status.toUpperCase()] ?? 'default'} data-test-subj={testSubj}>
      {status}
    </EuiBadge>
  );
}

/** The agent's components (inputs and outputs it runs) and their units, each with its health and message. */
export function AgentComponentsPanel({ agent }: { agent: AgentView }) {
  const components = agent.components ?? [];
  return (
    <EuiPanel hasBorder data-test-subj="agentComponents">
      <EuiTitle size="xs">
        <h2>Components</h2>
      </EuiTitle>
      <EuiSpacer size="s" />
      {components.length === 0 ? (
        <EuiEmptyPrompt
          titleSize="xxs"
          iconType="layers"
          title={<h3>No components reported</h3>}
          body={<p>The agent reports the components it runs at check-in.</p>}
        />
      ) : (
        components.map((c, i) => (
          <div key={c.id}>
            {i > 0 && <EuiSpacer size="s" />}
            <ComponentAccordion component={c} />
          </div>
        ))
      )}
    </EuiPanel>
  );
}

function ComponentAccordion({ component }: { component: AgentComponent }) {
  const units = component.units ?? [];
  const unhealthy = component.status.toUpperCase() !== 'HEALTHY';
  return (
    <EuiAccordion
      id={`component-${component.id}`}
      data-test-subj={`agentComponent-${component.id}`}
      initialIsOpen={unhealthy}
      buttonContent={
        <EuiFlexGroup gutterSize="s" alignItems="center" responsive={false}>
          <EuiFlexItem grow={false}>
            <HealthBadge status={component.status} testSubj={`agentComponentStatus-${component.id}`} />
          </EuiFlexItem>
          <EuiFlexItem grow={false}>
            <strong>{component.id}</strong>
          </EuiFlexItem>
          <EuiFlexItem grow={false}>
            <EuiText size="xs" color="subdued">
              {component.type} · {units.length} unit{units.length === 1 ? '' : 's'}
            </EuiText>
          </EuiFlexItem>
        </EuiFlexGroup>
      }
      paddingSize="s"
    >
      {component.message && (
        <EuiText size="s">
          <p>{component.message}</p>
        </EuiText>
      )}
      <EuiBasicTable<ComponentUnit>
        tableCaption={`Units of ${component.id}`}
        items={units}
        itemId="id"
        noItemsMessage="No units"
        columns={[
          { field: 'id', name: 'Unit', truncateText: true },
          { field: 'type', name: 'Type', width: '90px' },
          { field: 'status', name: 'Health', width: '130px', render: (s: string) => <HealthBadge status={s} /> },
          {
            field: 'message',
            name: 'Message',
            render: (message: string | undefined, unit: ComponentUnit) => (
              <div>
                <EuiText size="xs">{message ?? '-'}</EuiText>
                {unit.payload && Object.keys(unit.payload).length > 0 && (
                  <EuiCodeBlock language="json" fontSize="s" paddingSize="s" overflowHeight={160} isCopyable>
                    {JSON.stringify(unit.payload, null, 2)}
                  </EuiCodeBlock>
                )}
              </div>
            ),
          },
        ]}
      />
    </EuiAccordion>
  );
}
