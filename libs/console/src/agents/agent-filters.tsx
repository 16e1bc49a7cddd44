import {
  EuiFilterButton,
  EuiFilterGroup,
  EuiPopover,
  EuiPopoverTitle,
  EuiSelectable,
  type EuiSelectableOption,
} from '@elastic/eui';
import { useState } from 'react';
import { errorMessage } from '../api-client';
import { useApiResource } from '../hooks/use-api-resource';
import type { AgentStatus, AgentStatusCounts } from './agent-types';

/** The statuses with their own filter button; the rarer ones are under "More". */
const MAIN_STATUSES: readonly AgentStatus[] = ['online', 'offline', 'error', 'degraded', 'updating', 'inactive', 'unenrolled'];
const MORE_STATUSES: readonly AgentStatus[] = ['enrolling', 'unenrolling', 'orphaned', 'uninstalled'];

const label = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * Kibana's status filter: one toggle per status, with the fleet's count of agents in it (from
 * `GET /agent_status`; no count when the server does not answer). Selected statuses are or-ed.
 */
export function StatusFilterGroup({
  selected,
  counts,
  onChange,
}: {
  selected: readonly AgentStatus[];
  counts: AgentStatusCounts | undefined;
  onChange: (statuses: AgentStatus[]) => void;
}) {
  const [moreOpen, setMoreOpen] = useState(false);
  const toggle = (s: AgentStatus) => onChange(selected.includes(s) ? selected.filter((x) => x !== s) : [...selected, s]);
  const moreSelected = MORE_STATUSES.filter((s) => selected.includes(s)).length;
  const moreOptions: EuiSelectableOption[] = MORE_STATUSES.map((s) => ({
    label: label(s),
    key: s,
    checked: selected.includes(s) ? 'on' : undefined,
    append: counts ? String(counts[s] ?? 0) : undefined,
    'data-test-subj': `statusFilter-${s}`,
  }));
  return (
    <EuiFilterGroup aria-label="Filter by status">
      {MAIN_STATUSES.map((s) => (
        <EuiFilterButton
          key={s}
          isToggle
          isSelected={selected.includes(s)}
          hasActiveFilters={selected.includes(s)}
          numFilters={counts ? (counts[s] ?? 0) : undefined}
          onClick={() => toggle(s)}
          data-test-subj={`statusFilter-${s}`}
        >
          {label(s)}
        </EuiFilterButton>
      ))}
      <EuiPopover
        isOpen={moreOpen}
        closePopover={() => setMoreOpen(false)}
        panelPaddingSize="none"
        button={
          <EuiFilterButton
            iconType="chevronSingleDown"
            onClick={() => setMoreOpen((o) => !o)}
            isSelected={moreOpen}
            hasActiveFilters={moreSelected > 0}
            numActiveFilters={moreSelected || undefined}
            data-test-subj="statusFilterMore"
          >
            More
          </EuiFilterButton>
        }
      >
        <EuiSelectable
          aria-label="More statuses"
          options={moreOptions}
          onChange={(_all, _event, changed) => toggle(changed.key as AgentStatus)}
        >
          {(list) => <div style={{ width: 220 }}>{list}</div>}
        </EuiSelectable>
      </EuiPopover>
    </EuiFilterGroup>
  );
}

/** Kibana's tags filter: a popover listing the fleet's tags (`GET /agents/tags`), several may be picked. */
export function TagsFilter({ selected, onChange }: { selected: readonly string[]; onChange: (tags: string[]) => void }) {
  const [open, setOpen] = useState(false);
  const tags = useApiResource<{ items: string[] }>(open ? '/api/fleet/agents/tags' : null);
  const names = [...new Set([...(tags.data?.items ?? []), ...selected])].sort();
  const options: EuiSelectableOption[] = names.map((t) => ({
    label: t,
    key: t,
    checked: selected.includes(t) ? 'on' : undefined,
    'data-test-subj': `tagsFilterOption-${t}`,
  }));
  return (
    <EuiFilterGroup aria-label="Filter by tags">
      <EuiPopover
        isOpen={open}
        closePopover={() => setOpen(false)}
        panelPaddingSize="none"
        button={
          <EuiFilterButton
            iconType="chevronSingleDown"
            onClick={() => setOpen((o) => !o)}
            isSelected={open}
            hasActiveFilters={selected.length > 0}
            numActiveFilters={selected.length || undefined}
            data-test-subj="tagsFilterButton"
          >
            Tags
          </EuiFilterButton>
        }
      >
        <EuiSelectable
          aria-label="Tags"
          searchable
          searchProps={{ placeholder: 'Search tags', compressed: true }}
          isLoading={tags.isLoading}
          options={options}
          emptyMessage={tags.error ? errorMessage(tags.error) : 'No tags yet'}
          onChange={(_all, _event, changed) => {
            const tag = changed.label;
            onChange(selected.includes(tag) ? selected.filter((t) => t !== tag) : [...selected, tag]);
          }}
        >
          {(list, search) => (
            <div style={{ width: 260 }}>
              <EuiPopoverTitle paddingSize="s">{search}</EuiPopoverTitle>
              {list}
            </div>
          )}
        </EuiSelectable>
      </EuiPopover>
    </EuiFilterGroup>
  );
}
