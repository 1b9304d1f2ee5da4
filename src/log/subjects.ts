/**
 * Topic names and subject-style wildcards (as NATS subjects): a name is tokens separated by '.';
 * in a pattern `*` matches exactly one token and `>` (last only) one or more trailing tokens.
 */
const TOKEN = /^[A-Za-z0-9_-]+$/;
export const MAX_TOPIC_NAME = 200;

/** Why `name` is not a valid topic name, or null. Names starting with "__" are the broker's own. */
export function topicNameProblem(name: string, allowInternal = false): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'topic name is empty';
  if (name.length > MAX_TOPIC_NAME) return `topic name longer than ${MAX_TOPIC_NAME} characters`;
  if (!allowInternal && name.startsWith('__')) return 'topic names starting with "__" are reserved';
  for (const t of name.split('.')) if (!TOKEN.test(t)) return `topic name "${name}": tokens are letters, digits, "_" and "-", separated by "."`;
  return null;
}

export function patternProblem(pattern: string): string | null {
  if (typeof pattern !== 'string' || pattern.length === 0) return 'subscription pattern is empty';
  if (pattern.length > MAX_TOPIC_NAME) return `pattern longer than ${MAX_TOPIC_NAME} characters`;
  const tokens = pattern.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === '>' && i === tokens.length - 1) continue;
    if (t === '*' || TOKEN.test(t)) continue;
    return `pattern "${pattern}": tokens are names, "*" (one token) or a final ">" (the rest)`;
  }
  return null;
}

export function matchesPattern(pattern: string, topic: string): boolean {
  const p = pattern.split('.');
  const t = topic.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length) return false;
    if (p[i] !== '*' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}
