/** Private PostgreSQL 15 servers for tests (the implementation is shared with jest's global setup). */
export {
  makeTemplate,
  postgresAvailable,
  postgresBinary,
  startPostgres,
  type PostgresOptions,
  type PostgresServer,
} from './postgres.mjs';
