// Reading the command line's input files with errors that name the file and say how to fix it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { adapterFromPeft, FormatError, InputError, type LoraAdapter } from '@prufed/model';

/** The file's bytes; an InputError naming the file and its role when it does not exist. */
async function readInputFile(file: string, role: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new InputError(`${role} ${file} does not exist`);
    throw error;
  }
}

/** The file's text; an InputError naming the file and its role when it does not exist. */
export async function readInputText(file: string, role: string): Promise<string> {
  return (await readInputFile(file, role)).toString('utf8');
}

export async function readJsonFile(file: string, role: string): Promise<unknown> {
  const text = await readInputText(file, role);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormatError(`${role} ${file} is not valid JSON (${(error as Error).message})`);
  }
}

/** The adapter_config.json that PEFT saves beside adapter_model.safetensors. */
export function adapterConfigPath(safetensorsFile: string): string {
  return path.join(path.dirname(safetensorsFile), 'adapter_config.json');
}

/** A PEFT adapter: the safetensors file and the adapter_config.json beside it. */
export async function readPeftAdapter(file: string): Promise<LoraAdapter> {
  const bytes = await readInputFile(file, 'adapter');
  const config = await readJsonFile(
    adapterConfigPath(file),
    'adapter config (PEFT saves adapter_config.json beside adapter_model.safetensors)',
  );
  return adapterFromPeft(bytes, config);
}
