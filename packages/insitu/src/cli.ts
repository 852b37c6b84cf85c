#!/usr/bin/env node
/**
 * The `insitu` command: `run` a Python file or stored script over a table, manage `scripts`, `ds`,
 * `jobs`, `schedules` and `users`, and `serve` the REST API. Exit codes: 0 done, 1 the call or its input
 * failed, 2 the command line is wrong, 130 cancelled (Ctrl-C).
 */
import { Command, CommanderError } from 'commander';
import { EXIT, reportError } from './cli/exit-codes.js';
import { runCommand } from './cli/run-command.js';
import { datastoresCommand, jobsCommand, schedulesCommand, scriptsCommand } from './cli/session-commands.js';
import { serveCommand } from './cli/serve-command.js';
import { usersCommand } from './cli/users-command.js';

const program = new Command('insitu')
  .description('Run Python user-defined functions next to your data.')
  .addHelpText('after', '\nExit codes: 0 done, 1 the call or its input failed (a UDF error, a missing table, a privilege), 2 usage, 130 cancelled.')
  .showHelpAfterError('(see insitu --help)');

for (const cmd of [runCommand(), scriptsCommand(), datastoresCommand(), jobsCommand(), schedulesCommand(), usersCommand(), serveCommand()]) program.addCommand(cmd);

/** Usage errors (unknown options, missing arguments, bad values) exit 2, help and version 0. */
function exitOverride(cmd: Command): void {
  cmd.exitOverride((e: CommanderError) => {
    throw e;
  });
  for (const c of cmd.commands) exitOverride(c);
}
exitOverride(program);

program.parseAsync().catch((e: unknown) => {
  if (e instanceof CommanderError) {
    process.exit(e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.OK : EXIT.USAGE);
  }
  process.exit(reportError(e));
});
