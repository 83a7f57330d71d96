-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "ModelRegistration" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "modelType" TEXT NOT NULL DEFAULT 'LLM',
    "source" TEXT NOT NULL,
    "family" TEXT,
    "modelPath" TEXT,
    "hfRepoId" TEXT,
    "architecture" TEXT,
    "chatTemplate" TEXT,
    "contextLength" INTEGER,
    "spec" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ModelRegistration_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelInstance" (
    "id" TEXT NOT NULL,
    "uid" TEXT NOT NULL,
    "modelName" TEXT NOT NULL,
    "registrationId" TEXT,
    "engine" TEXT NOT NULL,
    "format" TEXT,
    "sizeInBillions" DOUBLE PRECISION,
    "quantization" TEXT,
    "params" JSONB NOT NULL,
    "desiredReplicas" INTEGER NOT NULL DEFAULT 1,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ModelInstance_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Replica" (
    "id" TEXT NOT NULL,
    "instanceId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "workerId" TEXT,
    "gpuIndices" JSONB NOT NULL,
    "memoryBytes" BIGINT NOT NULL DEFAULT 0,
    "port" INTEGER,
    "pid" INTEGER,
    "status" TEXT NOT NULL DEFAULT 'scheduled',
    "progress" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "restarts" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Replica_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GpuClaim" (
    "id" TEXT NOT NULL,
    "workerId" TEXT NOT NULL,
    "gpuIndex" INTEGER NOT NULL,
    "replicaId" TEXT NOT NULL,
    "memoryBytes" BIGINT NOT NULL,
    "exclusive" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "GpuClaim_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Worker" (
    "id" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "devices" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'alive',
    "lastHeartbeat" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Worker_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiKey" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "keyHash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "models" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Event" (
    "id" SERIAL NOT NULL,
    "kind" TEXT NOT NULL,
    "subject" TEXT,
    "message" TEXT NOT NULL,
    "data" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Event_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ModelRegistration_name_key" ON "ModelRegistration"("name");

-- CreateIndex
CREATE UNIQUE INDEX "ModelInstance_uid_key" ON "ModelInstance"("uid");

-- CreateIndex
CREATE INDEX "Replica_workerId_idx" ON "Replica"("workerId");

-- CreateIndex
CREATE UNIQUE INDEX "Replica_instanceId_index_key" ON "Replica"("instanceId", "index");

-- CreateIndex
CREATE INDEX "GpuClaim_workerId_gpuIndex_idx" ON "GpuClaim"("workerId", "gpuIndex");

-- CreateIndex
CREATE UNIQUE INDEX "GpuClaim_workerId_gpuIndex_replicaId_key" ON "GpuClaim"("workerId", "gpuIndex", "replicaId");

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_name_key" ON "ApiKey"("name");

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_keyHash_key" ON "ApiKey"("keyHash");

-- CreateIndex
CREATE INDEX "Event_createdAt_idx" ON "Event"("createdAt");

-- AddForeignKey
ALTER TABLE "ModelInstance" ADD CONSTRAINT "ModelInstance_registrationId_fkey" FOREIGN KEY ("registrationId") REFERENCES "ModelRegistration"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Replica" ADD CONSTRAINT "Replica_instanceId_fkey" FOREIGN KEY ("instanceId") REFERENCES "ModelInstance"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Replica" ADD CONSTRAINT "Replica_workerId_fkey" FOREIGN KEY ("workerId") REFERENCES "Worker"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GpuClaim" ADD CONSTRAINT "GpuClaim_replicaId_fkey" FOREIGN KEY ("replicaId") REFERENCES "Replica"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GpuClaim" ADD CONSTRAINT "GpuClaim_workerId_fkey" FOREIGN KEY ("workerId") REFERENCES "Worker"("id") ON DELETE CASCADE ON UPDATE CASCADE;
