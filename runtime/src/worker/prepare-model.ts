// The first step of every run, shared by trainLocalCluster() and the chief worker task: build the job's model once
// to learn its variables and initial values, and plan their shards over the PS.
import type { JobSpec } from '../job/index.ts';
import { planShards } from '../ps/index.ts';
import type { ShardPlan, VariableSpec } from '../ps/index.ts';
import { createTrainStep } from './train-step.ts';

/** A job's variables (in model order), their initial values and the shard plan. */
export interface PreparedModel {
  variables: VariableSpec[];
  values: Map<string, Float32Array>;
  plan: ShardPlan;
}

/** Builds the model of `spec` (loading TensorFlow), reads its initial weights and plans shards; frees the model. */
export async function prepareModel(spec: JobSpec): Promise<PreparedModel> {
  const template = await createTrainStep({
    topology: spec.model.topology,
    loss: spec.compile.loss,
    metrics: spec.compile.metrics,
    trainable: spec.model.trainable,
    initialWeights: spec.model.initialWeights,
  });
  try {
    const variables = [...template.variables];
    const values = template.values();
    return { variables, values, plan: planShards(variables, spec.ps) };
  } finally {
    template.dispose();
  }
}
