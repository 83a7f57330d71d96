-- CreateTable
CREATE TABLE "ModelRegistration" (
    "id" TEXT NOT NULL PRIMARY KEY,
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
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "ModelInstance" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "uid" TEXT NOT NULL,
    "modelName" TEXT NOT NULL,
    "registrationId" TEXT,
    "engine" TEXT NOT NULL,
    "format" TEXT,
    "sizeInBillions" REAL,
    "quantization" TEXT,
    "params" JSONB NOT NULL,
    "desiredReplicas" INTEGER NOT NULL DEFAULT 1,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "lastError" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "ModelInstance_registrationId_fkey" FOREIGN KEY ("registrationId") REFERENCES "ModelRegistration" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Replica" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "instanceId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "workerId" TEXT,
    "gpuIndices" JSONB NOT NULL,
    "memoryBytes" BIGINT NOT NULL DEFAULT 0,
    "port" INTEGER,
    "pid" INTEGER,
    "status" TEXT NOT NULL DEFAULT 'scheduled',
    "progress" REAL NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "restarts" INTEGER NOT NULL DEFAULT 0,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Replica_instanceId_fkey" FOREIGN KEY ("instanceId") REFERENCES "ModelInstance" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Replica_workerId_fkey" FOREIGN KEY ("workerId") REFERENCES "Worker" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "GpuClaim" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "workerId" TEXT NOT NULL,
    "gpuIndex" INTEGER NOT NULL,
    "replicaId" TEXT NOT NULL,
    "memoryBytes" BIGINT NOT NULL,
    "exclusive" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "GpuClaim_replicaId_fkey" FOREIGN KEY ("replicaId") REFERENCES "Replica" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "GpuClaim_workerId_fkey" FOREIGN KEY ("workerId") REFERENCES "Worker" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Worker" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "host" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "devices" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'alive',
    "lastHeartbeat" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "ApiKey" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "keyHash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "models" JSONB,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" DATETIME
);

-- CreateTable
CREATE TABLE "Event" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "kind" TEXT NOT NULL,
    "subject" TEXT,
    "message" TEXT NOT NULL,
    "data" JSONB,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
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
