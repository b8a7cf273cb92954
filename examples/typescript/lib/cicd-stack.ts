// The CI/CD stack: the ECR repositories and the build that pushes images to them.
import * as cdk from "aws-cdk-lib";
import * as codebuild from "aws-cdk-lib/aws-codebuild";
import * as ecr from "aws-cdk-lib/aws-ecr";
import { Construct } from "constructs";

export interface CicdStackProps extends cdk.StackProps {
  /** Put before each repository name ("" by default). */
  readonly repositoryNamePrefix: string;
}

export class CicdStack extends cdk.Stack {
  /** The repositories, by the keys the API stack uses. */
  public readonly ecrRepositories: Record<string, ecr.Repository>;
  /** The build that pushes both images. */
  public readonly imageBuild: codebuild.Project;

  constructor(scope: Construct, id: string, props: CicdStackProps) {
    super(scope, id, props);

    const names: Record<string, string> = {
      textGeneration: "text-generation",
      practiceMaterial: "practice-material",
    };
    this.ecrRepositories = {};
    for (const [key, name] of Object.entries(names)) {
      this.ecrRepositories[key] = new ecr.Repository(this, `${key}Repository`, {
        repositoryName: `${props.repositoryNamePrefix}${name}`,
        imageScanOnPush: true,
        lifecycleRules: [{ description: "keep the 20 newest images", maxImageCount: 20 }],
      });
    }

    // The pipeline, reduced to its build: a real pipeline adds a source stage.
    this.imageBuild = new codebuild.Project(this, "ImageBuild", {
      description: "Builds the text-generation and practice-material images and pushes them",
      environment: {
        buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
        privileged: true, // docker build needs the Docker daemon
      },
      environmentVariables: {
        TEXTGENERATION_REPOSITORY_URI: {
          value: this.ecrRepositories["textGeneration"].repositoryUri,
        },
        PRACTICEMATERIAL_REPOSITORY_URI: {
          value: this.ecrRepositories["practiceMaterial"].repositoryUri,
        },
      },
      buildSpec: codebuild.BuildSpec.fromObject({
        version: "0.2",
        phases: {
          pre_build: {
            commands: [
              'aws ecr get-login-password | docker login --username AWS --password-stdin "${TEXTGENERATION_REPOSITORY_URI%%/*}"',
            ],
          },
          build: {
            commands: [
              'docker build --provenance=false -t "$TEXTGENERATION_REPOSITORY_URI:latest" textGeneration/',
              'docker build --provenance=false -t "$PRACTICEMATERIAL_REPOSITORY_URI:latest" practiceMaterial/',
            ],
          },
          post_build: {
            commands: [
              'docker push "$TEXTGENERATION_REPOSITORY_URI:latest"',
              'docker push "$PRACTICEMATERIAL_REPOSITORY_URI:latest"',
            ],
          },
        },
      }),
    });
    for (const repository of Object.values(this.ecrRepositories)) {
      repository.grantPullPush(this.imageBuild);
    }
  }
}
