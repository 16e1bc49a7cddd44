/** A timestamp in the reader's locale and time zone; a dash when there is none. */
export const formatTime = (iso: string | undefined): string => (iso ? new Date(iso).toLocaleString() : '—');

/** JSON as the console shows and edits it: two-space indentation. */
export const prettyJson = (value: unknown): string => JSON.stringify(value, null, 2);
