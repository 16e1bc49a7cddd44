import { EuiButton, EuiButtonIcon, EuiContextMenuItem, EuiContextMenuPanel, EuiPopover } from '@elastic/eui';
import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { canOperate, useSession } from '../session-context';
import type { AgentActionKind } from './agent-action-modals';
import { agentHostname, type AgentView } from './agent-types';

interface Props {
  agent: AgentView;
  /** Opens the confirmation of an action on this agent. */
  onAction: (kind: AgentActionKind) => void;
  /** An icon button in a table row; a labelled button in a page header. */
  variant: 'row' | 'header';
}

/** Kibana's agent actions (row and details header): view, reassign, upgrade, unenroll, diagnostics, tags. */
export function AgentActionsMenu({ agent, onAction, variant }: Props) {
  const [open, setOpen] = useState(false);
  const navigate = useNavigate();
  const { session } = useSession();
  const mayAct = canOperate(session) && agent.active;
  const act = (kind: AgentActionKind) => () => {
    setOpen(false);
    onAction(kind);
  };
  const items = [
    ...(variant === 'row'
      ? [
          <EuiContextMenuItem key="view" icon="inspect" data-test-subj="viewAgent" onClick={() => void navigate(`/agents/${encodeURIComponent(agent.id)}`)}>
            View agent
          </EuiContextMenuItem>,
        ]
      : []),
    <EuiContextMenuItem key="tags" icon="tag" data-test-subj="editAgentTags" disabled={!canOperate(session)} onClick={act('editTags')}>
      Edit tags
    </EuiContextMenuItem>,
    <EuiContextMenuItem key="reassign" icon="pencil" data-test-subj="reassignAgent" disabled={!mayAct} onClick={act('reassign')}>
      Assign to new policy
    </EuiContextMenuItem>,
    <EuiContextMenuItem key="upgrade" icon="refresh" data-test-subj="upgradeAgent" disabled={!mayAct} onClick={act('upgrade')}>
      Upgrade agent
    </EuiContextMenuItem>,
    <EuiContextMenuItem key="diagnostics" icon="download" data-test-subj="requestDiagnosticsAgent" disabled={!mayAct} onClick={act('diagnostics')}>
      Request diagnostics .zip
    </EuiContextMenuItem>,
    <EuiContextMenuItem key="unenroll" icon="trash" data-test-subj="unenrollAgent" disabled={!mayAct} onClick={act('unenroll')}>
      Unenroll agent
    </EuiContextMenuItem>,
  ];
  const button =
    variant === 'row' ? (
      <EuiButtonIcon
        iconType="boxesVertical"
        aria-label={`Actions for ${agentHostname(agent)}`}
        data-test-subj={`agentRowActions-${agent.id}`}
        onClick={() => setOpen((o) => !o)}
      />
    ) : (
      <EuiButton iconType="chevronSingleDown" iconSide="right" data-test-subj="agentActionsButton" onClick={() => setOpen((o) => !o)}>
        Actions
      </EuiButton>
    );
  return (
    <EuiPopover button={button} isOpen={open} closePopover={() => setOpen(false)} panelPaddingSize="none" anchorPosition="downRight">
      <EuiContextMenuPanel items={items} />
    </EuiPopover>
  );
}
