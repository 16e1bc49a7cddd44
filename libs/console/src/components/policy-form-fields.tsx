import { EuiCheckboxGroup, EuiFieldNumber, EuiFieldText, EuiFormRow, EuiTextArea } from '@elastic/eui';
import type { AgentPolicy } from '../fleet-types';

/** The agent policy settings the console edits (create flyout and settings tab). */
export interface PolicyFormValues {
  name: string;
  namespace: string;
  description: string;
  monitoring: ('logs' | 'metrics')[];
  /** Seconds without a check-in before an agent counts as inactive. */
  inactivityTimeout: number;
  /** Seconds after which an unenrolling agent is force-unenrolled; undefined: never. */
  unenrollTimeout?: number;
}

/** Kibana's defaults for a new policy (the server applies the same). */
export const emptyPolicyForm: PolicyFormValues = {
  name: '',
  namespace: 'default',
  description: '',
  monitoring: ['logs', 'metrics'],
  inactivityTimeout: 1_209_600,
};

export function policyFormValuesOf(p: AgentPolicy): PolicyFormValues {
  return {
    name: p.name,
    namespace: p.namespace,
    description: p.description ?? '',
    monitoring: p.monitoring_enabled.filter((m): m is 'logs' | 'metrics' => m === 'logs' || m === 'metrics'),
    inactivityTimeout: p.inactivity_timeout,
    ...(p.unenroll_timeout !== undefined ? { unenrollTimeout: p.unenroll_timeout } : {}),
  };
}

export type PolicyFormProblems = Partial<Record<keyof PolicyFormValues, string>>;

/** The server's rules (its zod schema), checked before sending so the form can point at the field. */
export function policyFormProblems(v: PolicyFormValues): PolicyFormProblems {
  const out: PolicyFormProblems = {};
  const name = v.name.trim();
  if (!name) out.name = 'A name is required.';
  else if (name.length > 256) out.name = 'At most 256 characters.';
  if (!/^[a-z0-9_]{1,100}$/.test(v.namespace)) out.namespace = 'Lowercase letters, digits and _ only (at most 100).';
  if (v.description.length > 4096) out.description = 'At most 4096 characters.';
  if (!Number.isInteger(v.inactivityTimeout) || v.inactivityTimeout < 0) out.inactivityTimeout = 'A whole number of seconds, 0 or more.';
  if (v.unenrollTimeout !== undefined && (!Number.isInteger(v.unenrollTimeout) || v.unenrollTimeout < 0)) {
    out.unenrollTimeout = 'A whole number of seconds, 0 or more.';
  }
  return out;
}

const MONITORING_OPTIONS = [
  { id: 'logs', label: 'Collect agent logs', 'data-test-subj': 'policyMonitoringLogs' },
  { id: 'metrics', label: 'Collect agent metrics', 'data-test-subj': 'policyMonitoringMetrics' },
];

const numberOrUndefined = (raw: string): number | undefined => (raw.trim() === '' ? undefined : Number(raw));

export function PolicyFormFields({
  values,
  onChange,
  problems,
  withTimeouts = false,
  disabled = false,
}: {
  values: PolicyFormValues;
  onChange: (v: PolicyFormValues) => void;
  problems: PolicyFormProblems;
  withTimeouts?: boolean;
  disabled?: boolean;
}) {
  const set = (patch: Partial<PolicyFormValues>) => onChange({ ...values, ...patch });
  return (
    <>
      <EuiFormRow label="Name" isInvalid={!!problems.name} error={problems.name} fullWidth>
        <EuiFieldText
          fullWidth
          value={values.name}
          onChange={(e) => set({ name: e.target.value })}
          isInvalid={!!problems.name}
          disabled={disabled}
          data-test-subj="policyNameInput"
          placeholder="Choose a name"
        />
      </EuiFormRow>
      <EuiFormRow label="Description" labelAppend="Optional" isInvalid={!!problems.description} error={problems.description} fullWidth>
        <EuiTextArea
          fullWidth
          rows={2}
          value={values.description}
          onChange={(e) => set({ description: e.target.value })}
          isInvalid={!!problems.description}
          disabled={disabled}
          data-test-subj="policyDescriptionInput"
          placeholder="How will this policy be used?"
        />
      </EuiFormRow>
      <EuiFormRow
        label="Default namespace"
        helpText="Data streams of this policy's integrations are named with it."
        isInvalid={!!problems.namespace}
        error={problems.namespace}
        fullWidth
      >
        <EuiFieldText
          fullWidth
          value={values.namespace}
          onChange={(e) => set({ namespace: e.target.value })}
          isInvalid={!!problems.namespace}
          disabled={disabled}
          data-test-subj="policyNamespaceInput"
        />
      </EuiFormRow>
      <EuiFormRow label="Agent monitoring" helpText="Whether agents send their own logs and metrics." fullWidth>
        <EuiCheckboxGroup
          options={MONITORING_OPTIONS}
          idToSelectedMap={{ logs: values.monitoring.includes('logs'), metrics: values.monitoring.includes('metrics') }}
          onChange={(id) => {
            const m = id as 'logs' | 'metrics';
            set({ monitoring: values.monitoring.includes(m) ? values.monitoring.filter((x) => x !== m) : [...values.monitoring, m] });
          }}
          disabled={disabled}
        />
      </EuiFormRow>
      {withTimeouts && (
        <>
          <EuiFormRow
            label="Inactivity timeout"
            helpText="Seconds without a check-in before an agent is inactive."
            isInvalid={!!problems.inactivityTimeout}
            error={problems.inactivityTimeout}
          >
            <EuiFieldNumber
              min={0}
              step={1}
              value={Number.isNaN(values.inactivityTimeout) ? '' : values.inactivityTimeout}
              onChange={(e) => set({ inactivityTimeout: numberOrUndefined(e.target.value) ?? Number.NaN })}
              isInvalid={!!problems.inactivityTimeout}
              disabled={disabled}
              append="s"
              data-test-subj="policyInactivityTimeoutInput"
            />
          </EuiFormRow>
          <EuiFormRow
            label="Unenrollment timeout"
            labelAppend="Optional"
            helpText="Seconds after which an unenrolling agent is unenrolled even without its answer."
            isInvalid={!!problems.unenrollTimeout}
            error={problems.unenrollTimeout}
          >
            <EuiFieldNumber
              min={0}
              step={1}
              value={values.unenrollTimeout ?? ''}
              onChange={(e) => {
                const n = numberOrUndefined(e.target.value);
                const { unenrollTimeout: _drop, ...rest } = values;
                onChange(n === undefined ? rest : { ...rest, unenrollTimeout: n });
              }}
              isInvalid={!!problems.unenrollTimeout}
              disabled={disabled}
              append="s"
              data-test-subj="policyUnenrollTimeoutInput"
            />
          </EuiFormRow>
        </>
      )}
    </>
  );
}
