// The "failed" cell of a round in the dashboard's rounds table: the count, and which clients
// failed and why (missed the deadline, only rejected updates, disconnected) one click away.
import type { RoundFailure } from '@prufed/fl';

export function RoundFailures({ count, failures }: { count: number; failures: RoundFailure[] }) {
  if (count === 0) return <>0</>;
  return (
    <details data-testid="round-failures">
      <summary>{count}</summary>
      <ul>
        {failures.map((failure) => (
          <li key={failure.clientId} title={failure.clientId}>
            {failure.clientId.slice(0, 8)}: {failure.reason}
          </li>
        ))}
      </ul>
    </details>
  );
}
