import { isPostgresUrl, maskedUrl } from '@insitu/adapters';

/** `--database` as the CLI prints it: a PostgreSQL URL with its password masked, a file path as given. */
export function shownDatabase(database: string): string {
  return isPostgresUrl(database) ? maskedUrl(database) : database;
}
