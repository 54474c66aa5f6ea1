// Entry point of the prufed command line: registers the commands and turns errors into
// `prufed: <message>` on stderr with exit status 1 (with a stack trace only for unexpected errors).
import { ConfigError, FormatError, InputError } from '@prufed/model';
import { Command } from 'commander';
import { evalCommand } from './eval';
import { exportCommand } from './export';
import { finetuneCommand } from './finetune';
import { layerStudyCommand } from './layer-study';
import { loraGradCommand } from './lora-grad';
import { pruneCommand } from './prune';
import { volunteerCommand } from './volunteer';

/** Errors caused by the user's input or files, whose message is the whole story. */
function isExpected(error: unknown): error is Error {
  if (error instanceof FormatError || error instanceof ConfigError || error instanceof InputError)
    return true;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'EACCES';
}

const program = new Command('prufed')
  .description('PruFed tools: LoRA gradients and layer pruning of LLaMA checkpoints')
  .addCommand(evalCommand())
  .addCommand(exportCommand())
  .addCommand(finetuneCommand())
  .addCommand(layerStudyCommand())
  .addCommand(loraGradCommand())
  .addCommand(pruneCommand())
  .addCommand(volunteerCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(
    `prufed: ${isExpected(error) ? error.message : ((error as Error).stack ?? String(error))}\n`,
  );
  process.exitCode = 1;
}
