// child_process.fork() side of first-query.mjs: a fresh process making the same guarded pool.
import pg from 'pg';
import { guard } from '../dist/index.js';

const pool = guard(new pg.Pool({ connectionString: process.argv[2], max: 4 }));
await pool.query('SELECT 1');
process.send(String(process.hrtime.bigint()));
await pool.end();
process.disconnect();
